"""Badge Maker's mapping with one misconfigured contact attribute whose
name is markup. AC (the sandbox) refuses the unknown attribute with 422 and
quotes its name back in the error body, so the tests get an AC error body
holding markup from a real AC answer. (A choice the account lacks no longer
reaches AC at all: crm_sync leaves it out with a warning.)"""
from badgemaker.crm_mapping import BadgeMakerMapping
from crm_sync.mapping import Field

XSS_BODY = "<img src=x onerror=alert(1)>"


class HostileMapping(BadgeMakerMapping):
    contact = {**BadgeMakerMapping.contact, XSS_BODY: Field(XSS_BODY, "text", lambda attendee: "anything")}
