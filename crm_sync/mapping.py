"""The contract with the host project, and the pure step from a person to
the contact the CRM should hold.

A host project subclasses `CrmMapping` once (Badge Maker's is
`badgemaker.crm_mapping.BadgeMakerMapping`) and names it in
`CRM_SYNC["MAPPING"]`. The subclass says which records make a person a
contact ("confirmed"), who may be emailed ("opted in"), and the table of
fields and tags. This module also holds the value encoders and the builder
they share. Every rule follows the CRM's field formats (docs/activecampaign.md):
dates `YYYY-MM-DD`, checkboxes `||A||B||`, phones in E.164, and never an
empty value, because the CRM overwrites stored data with blanks.
"""
import datetime
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import grapheme
import phonenumbers
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from .conf import crm_setting, person_model_label, record_model_label

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
    (checkbox fields); `check` returns a reason to leave a value out, or None.
    `title` is the field's name in the CRM's UI, used only when
    `crm_sync_schema --apply` creates the field ("Badge Name" from
    BADGE_NAME when not given)."""

    perstag: str
    type: str
    source: object
    options: dict = None
    check: object = None
    title: str = ""

    def __post_init__(self):
        if not self.title:
            object.__setattr__(self, "title", self.perstag.replace("_", " ").title())


@dataclass
class Attendee:
    """A person and their confirmed records, newest last, as the mapping sees them."""

    person: object
    records: list

    @property
    def latest(self):
        return self.records[-1] if self.records else None


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


class CrmMapping:
    """What a host project tells crm_sync about its data. Subclass it, fill
    in the table, and name the subclass in `CRM_SYNC["MAPPING"]`.

    crm_sync syncs *people* (`CRM_SYNC["PERSON_MODEL"]`, the auth user model
    by default). A person becomes a contact once they have a confirmed
    *record* (`CRM_SYNC["RECORD_MODEL"]`: Badge Maker's badge, a ticket, a
    registration) holding a foreign key to them. "Confirmed" and "opted in"
    are each defined here once, as a queryset filter and as a check on one
    object; the sync, the reconciler, the resync, the dashboard and the
    admin all ask these. Override both halves of a pair together.
    """

    # -- names on the record model -------------------------------------
    #: The record's foreign key to its person.
    person_field = "user"
    #: When the record was confirmed; the dashboard measures time to the CRM from it.
    confirmed_at_field = "confirmed_at"
    #: Moves on every save of the record (`auto_now`); None if there is none.
    #: The reconciler finds records changed without a `post_save` through it.
    changed_at_field = None
    #: The boolean on the person that says they may be emailed.
    opt_in_field = "crm_opt_in"

    # -- the admin -------------------------------------------------------
    #: A lookup from a record to what it is for (an event), shown and filtered
    #: on in the SyncLog admin; None for none.
    record_event_field = None
    #: Lookups from a person, and from a record, searched in the SyncLog
    #: admin besides the email sent.
    person_search_fields = ("first_name", "last_name")
    record_search_fields = ()
    #: Relations of the record the table reads (`select_related`).
    record_select_related = ()

    # -- the table (docs/mapping.md) --------------------------------------
    #: Contact attributes: {"firstName": Field(...), "lastName": …, "phone": …}.
    contact = {}
    #: Custom fields, by perstag.
    fields = []

    def email_of(self, person):
        """The person's email address: what the CRM matches contacts on."""
        return person.email

    def email(self, attendee):
        return self.email_of(attendee.person)

    def tags(self, attendee):
        """Tag names for the contact. Tags are only ever added."""
        return []

    def schema_tags(self):
        """The tag names the account should know, for `crm_sync_schema`'s
        check: those `tags()` can give. The sync creates a missing one on
        first use, so this only reports them (and a name the CRM refuses)."""
        return []

    # -- "confirmed", defined once -----------------------------------------
    def confirmed_filter(self):
        """A `Q` on the record model selecting confirmed records."""
        return Q(**{f"{self.confirmed_at_field}__isnull": False})

    def is_confirmed(self, record):
        return getattr(record, self.confirmed_at_field) is not None

    # -- "opted in", defined once ------------------------------------------
    def opted_in_filter(self, prefix=""):
        """A `Q` selecting opted-in people; `prefix` is the lookup from
        another model to the person (`"user__"` from a record)."""
        return Q(**{f"{prefix}{self.opt_in_field}": True})

    def is_opted_in(self, person):
        return bool(getattr(person, self.opt_in_field))

    # -- built on the above; rarely overridden -----------------------------
    @property
    def record_model(self):
        return apps.get_model(record_model_label())

    @property
    def person_model(self):
        return apps.get_model(person_model_label())

    def person_of(self, record):
        return getattr(record, self.person_field)

    def confirmed_records(self):
        return self.record_model._default_manager.filter(self.confirmed_filter())

    def confirmed_records_of(self, person):
        """The person's confirmed records, the latest last (latest
        confirmation, then highest id), whatever order syncs run in. A record
        confirmed by raw SQL without a confirmation time counts as the oldest."""
        return (self.confirmed_records().filter(**{self.person_field: person})
                .order_by(F(self.confirmed_at_field).asc(nulls_first=True), "pk"))

    def latest_confirmed(self, person):
        """The record a change to the person is filed under, or None."""
        return self.confirmed_records_of(person).last()

    def load(self, person):
        """The person with their confirmed records, as the table sees them."""
        records = self.confirmed_records_of(person).select_related(*self.record_select_related)
        return Attendee(person=person, records=list(records))

    def event_filter(self, event):
        """A `Q` on the record model for `resync_crm --event`; None if the
        project has no events."""
        return None


@lru_cache(maxsize=8)
def _mapping_for(path):
    try:
        mapping_class = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(f"CRM_SYNC['MAPPING'] = {path!r} cannot be imported: {error}") from error
    if not (isinstance(mapping_class, type) and issubclass(mapping_class, CrmMapping)):
        raise ImproperlyConfigured(f"CRM_SYNC['MAPPING'] = {path!r} is not a subclass of crm_sync.mapping.CrmMapping")
    return mapping_class()


def crm_mapping():
    """The host project's `CrmMapping`, as `CRM_SYNC["MAPPING"]` names it."""
    path = crm_setting("MAPPING")
    if not path:
        raise ImproperlyConfigured("CRM_SYNC['MAPPING'] is not set: name your CrmMapping subclass (docs/integration.md)")
    return _mapping_for(path)


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
    """The contact the CRM should hold for `attendee`, following the
    mapping's `email()`, `contact`, `fields` and `tags()`."""
    mapping = mapping or crm_mapping()
    encoder = Encoder()
    payload = ContactPayload(email=(mapping.email(attendee) or "").strip().lower())
    for name, spec in mapping.contact.items():
        value = encode_field(encoder, spec, attendee)
        if value:
            payload.contact[name] = value
    for spec in mapping.fields:
        value = encode_field(encoder, spec, attendee)
        if value:
            payload.fields[spec.perstag] = value
    payload.tags = sorted({encoder.text("tag", name, "tag") for name in mapping.tags(attendee)} - {""}, key=str.lower)
    payload.warnings = encoder.warnings
    return payload
