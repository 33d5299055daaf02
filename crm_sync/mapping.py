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

The same rules, worded for the person typing, are `check_sendable`: a form
that runs it on each value it sends accepts only what the encoders send as
it is, so nothing typed is dropped or cut on the way without them knowing.
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
from django.core.exceptions import ImproperlyConfigured, ValidationError
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
    #: What the field takes, in words for the person typing it ("a date from 1900 to
    #: today"): ends `check_sendable`'s refusal when `check` gives a reason.
    accepts: str = ""

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

    def field(self, name):
        """The `Field` sent as contact attribute `name` ("phone") or as the
        custom field with perstag `name`; None if the table has none."""
        if name in self.contact:
            return self.contact[name]
        return next((spec for spec in self.fields if spec.perstag == name), None)

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

    def person_pk_of(self, record):
        """The person's primary key without loading them, when the record's
        foreign key holds it (the usual case); else loads the person."""
        link = self.record_model._meta.get_field(self.person_field)
        if link.target_field.primary_key:
            return getattr(record, link.attname)
        return self.person_of(record).pk

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

    def load_many(self, people):
        """{person pk: Attendee} for `people`, the same as `load` gives for
        each, read with one query for them all (the resync reads people in
        chunks). A mapping that overrides `load` or `confirmed_records_of`
        gets its own method called for each person instead."""
        people = list(people)
        if type(self).load is not CrmMapping.load or \
                type(self).confirmed_records_of is not CrmMapping.confirmed_records_of:
            return {person.pk: self.load(person) for person in people}
        link = self.record_model._meta.get_field(self.person_field)
        target = link.target_field.attname   # what the record's foreign key holds of the person
        attendees = {getattr(person, target): Attendee(person=person, records=[]) for person in people}
        records = (self.confirmed_records().filter(**{f"{self.person_field}__in": list(attendees)})
                   .select_related(*self.record_select_related)
                   .order_by(F(self.confirmed_at_field).asc(nulls_first=True), "pk"))
        for record in records:
            attendees[getattr(record, link.attname)].records.append(record)
        return {attendee.person.pk: attendee for attendee in attendees.values()}

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


# -- the rules a value must pass to be sent as it is ---------------------------
def control_characters(text):
    """The control characters in `text` the encoders strip (all but tab and newline), each once, in order."""
    return list(dict.fromkeys(_CONTROL.findall(text)))


def limit_of(spec):
    """The most characters the CRM takes in `spec`'s field (crm_sync/ac_assumed_limits.json)."""
    return LIMITS.get(_limit_key(spec), LIMITS["text"])


def _limit_key(spec):
    if spec.type == "phone":
        return "phone"
    return spec.perstag if spec.perstag in LIMITS else spec.type


def parse_phone(text):
    """`text` as a phone number (a `phonenumbers.PhoneNumber`, its extension
    included), or None when it is not a valid number. A number without
    `+country` is read as one of `CRM_SYNC["PHONE_REGION"]`."""
    try:
        number = phonenumbers.parse(text, crm_setting("PHONE_REGION") or None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def example_phone():
    """A valid mobile number of `CRM_SYNC["PHONE_REGION"]` (GB when unset), written
    internationally: "+44 7400 123456". What a refusal of a phone number shows."""
    number = phonenumbers.example_number_for_type(crm_setting("PHONE_REGION") or "GB",
                                                  phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def check_sendable(spec, value):
    """Raise `ValidationError`, worded for the person who typed `value`, when
    the encoders would not send it to `spec`'s field as it is: a control
    character (they strip it), longer than the CRM takes (they cut it), not
    a valid phone number or one with an extension (they leave it out, or the
    extension), a date the field's `check` refuses, a choice it has no option
    for. Whatever passes is sent unchanged, with no warning: trimmed, and a
    phone number in E.164. A form runs it on each value it saves."""
    if value in (None, "", [], ()):
        return
    if spec.type == "checkbox":
        unknown = [str(key) for key in value if key not in (spec.options or {})]
        if unknown:
            raise ValidationError(f"We don't have the choice {', '.join(unknown)}: pick from the list.",
                                  code="unknown_choice")
        return
    if spec.type == "date":
        if isinstance(value, datetime.datetime):
            value = timezone.localtime(value).date()
        reason = spec.check(value) if spec.check else None
        if reason:
            raise ValidationError(" ".join(filter(None, [f"We can't use this date: it is {reason}.",
                                                          spec.accepts and f"Enter {spec.accepts}."])),
                                  code="date")
        return
    text = str(value)
    controls = control_characters(text)
    if controls:
        named = ", ".join(f"U+{ord(ch):04X}" for ch in controls)
        raise ValidationError(
            f"This has an invisible control character ({named}), perhaps from pasted text: please type it "
            f"again without it. Letters in any script, numbers, punctuation, emoji and spaces are all fine.",
            code="control_characters")
    text = text.strip()
    limit = limit_of(spec)
    if len(text) > limit:
        raise ValidationError(f"Please shorten this to {limit:,} characters or fewer (it has {len(text):,}).",
                              code="too_long")
    if spec.type == "phone":
        number = parse_phone(text)
        if number is None:
            raise ValidationError(f"This isn't a phone number we can use. Enter a number with its country code, "
                                  f"for example {example_phone()}.", code="phone")
        if number.extension:
            raise ValidationError(f"Please leave out the extension ({number.extension}): we can only keep the "
                                  f"number itself, for example {example_phone()}.", code="phone_extension")


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
        number = parse_phone(text)
        if number is None:
            self.warnings.append(f"{name}: not a valid phone number, not sent")
            return ""
        if number.extension:
            # E.164 has no room for one: the number is sent without it.
            self.warnings.append(f"{name}: extension {number.extension} not sent")
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
    return encode_value(encoder, spec, spec.source(attendee))


def encode_value(encoder, spec, raw):
    """`raw` as `spec`'s field takes it, by its type; the encoder collects what was changed or left out."""
    if spec.type == "checkbox":
        return encoder.checkbox(spec.perstag, raw, spec.options)
    if spec.type == "date":
        return encoder.date(spec.perstag, raw, spec.check)
    if spec.type == "phone":
        return encoder.phone(spec.perstag, raw)
    return encoder.text(spec.perstag, raw, _limit_key(spec))


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
