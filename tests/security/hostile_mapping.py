"""Badge Maker's mapping with one misconfigured option: the vegan box maps to
an option value AC's field does not have, and that value is markup. AC (the
sandbox) refuses it with 422 and quotes the value back in its error body, so
the tests get an AC error body holding markup from a real AC answer."""
from dataclasses import replace

from badgemaker.crm_mapping import DIETARY_OPTIONS, BadgeMakerMapping

XSS_BODY = "<img src=x onerror=alert(1)>"


class HostileMapping(BadgeMakerMapping):
    fields = [replace(spec, options={**DIETARY_OPTIONS, "vegan": XSS_BODY})
              if spec.perstag == "DIETARY_PREFERENCES" else spec
              for spec in BadgeMakerMapping.fields]
