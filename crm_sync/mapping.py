"""From a person and their badges to the contact AC should hold: pure
functions, no database session, no HTTP.

The table of what goes where lives in the project's mapping module (for
Badge Maker, `badgemaker/crm_mapping.py`, named by `CRM_SYNC["MAPPING"]`);
this module holds the value encoders and the builder they share. Every rule
here follows AC's field formats (API.md §4): dates `YYYY-MM-DD`, checkboxes
`||A||B||`, phones in E.164, and never an empty value, because AC overwrites
stored data with blanks (API.md §3.1).
"""
import datetime
import json
import re
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import grapheme
import phonenumbers

from .conf import crm_setting

LIMITS = {
    key: value
    for key, value in json.loads((Path(__file__).parent / "ac_assumed_limits.json").read_text()).items()
    if key != "about"
}
# Control characters (C0, DEL and C1) other than tab and newline: AC has no
# use for them and some break its UI or exports.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Field:
    """One AC custom field: its perstag, AC type, and how to get the value
    from an `Attendee`. `options` maps choice keys to AC option values
    (checkbox fields); `check` returns a reason to leave a value out, or None."""

    perstag: str
    type: str
    source: object
    options: dict = None
    check: object = None


@dataclass
class Attendee:
    """A person and their confirmed badges, newest last, as the mapping sees them."""

    person: object
    badges: list

    @property
    def latest(self):
        return self.badges[-1] if self.badges else None


@dataclass
class ContactPayload:
    """What AC should hold for one person. Empty values are already left out."""

    email: str
    contact: dict = field(default_factory=dict)   # firstName, lastName, phone
    fields: dict = field(default_factory=dict)    # perstag -> encoded value
    tags: list = field(default_factory=list)      # tag names, sorted
    warnings: list = field(default_factory=list)

    def record(self):
        """The part compared with what was last sent (tags and list are tracked apart)."""
        return {"email": self.email, "contact": dict(self.contact), "fields": dict(self.fields)}


def mapping_module():
    return import_module(crm_setting("MAPPING"))


# -- encoders ---------------------------------------------------------------
class Encoder:
    """Collects warnings while turning Python values into AC strings."""

    def __init__(self):
        self.warnings = []

    def text(self, name, value, limit_key="text"):
        if value is None:
            return ""
        text = str(value)
        cleaned = _CONTROL.sub("", text)
        if cleaned != text:
            self.warnings.append(f"{name}: control characters removed")
        cleaned = cleaned.strip()
        limit = LIMITS.get(limit_key, LIMITS["text"])
        if len(cleaned) > limit:
            # Cut whole graphemes, so an emoji or accented letter is never split.
            cleaned = cleaned[: grapheme.safe_split_index(cleaned, limit)].rstrip()
            self.warnings.append(f"{name}: cut to {len(cleaned)} characters (was {len(text)})")
        return cleaned

    def date(self, name, value, check=None):
        if not value:
            return ""
        if isinstance(value, datetime.datetime):
            from django.utils import timezone

            value = timezone.localtime(value).date()
        reason = check(value) if check else None
        if reason:
            self.warnings.append(f"{name}: not sent ({reason})")
            return ""
        return value.isoformat()

    def phone(self, name, value):
        text = self.text(name, value, "phone")
        if not text:
            return ""
        try:
            number = phonenumbers.parse(text, crm_setting("PHONE_REGION"))
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            self.warnings.append(f"{name}: not a valid phone number, not sent")
            return ""
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def checkbox(self, name, keys, options):
        """`||A||B||` with AC's option values, in the options' own order."""
        keys = list(keys or [])
        unknown = [key for key in keys if key not in options]
        if unknown:
            self.warnings.append(f"{name}: unknown choice {', '.join(map(str, unknown))} dropped")
        values = [value for key, value in options.items() if key in keys]
        return "||" + "||".join(values) + "||" if values else ""


def encode_field(encoder, spec, attendee):
    raw = spec.source(attendee)
    if spec.type == "checkbox":
        return encoder.checkbox(spec.perstag, raw, spec.options)
    if spec.type == "date":
        return encoder.date(spec.perstag, raw, spec.check)
    if spec.type == "phone":
        return encoder.phone(spec.perstag, raw)
    return encoder.text(spec.perstag, raw, spec.perstag if spec.perstag in LIMITS else spec.type)


def build_contact_payload(attendee, mapping=None):
    """The contact AC should hold for `attendee`, following the mapping
    module's `EMAIL`, `CONTACT`, `FIELDS` and `tags()`."""
    mapping = mapping or mapping_module()
    encoder = Encoder()
    payload = ContactPayload(email=mapping.EMAIL(attendee).strip().lower())
    for name, spec in mapping.CONTACT.items():
        value = encode_field(encoder, spec, attendee)
        if value:
            payload.contact[name] = value
    for spec in mapping.FIELDS:
        value = encode_field(encoder, spec, attendee)
        if value:
            payload.fields[spec.perstag] = value
    payload.tags = sorted({encoder.text("tag", name, "tag") for name in mapping.tags(attendee)} - {""}, key=str.lower)
    payload.warnings = encoder.warnings
    return payload
