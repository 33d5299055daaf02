"""How Badge Maker's data becomes an ActiveCampaign contact.

The one table to edit when a field is added. crm_sync reads it through
`CRM_SYNC["MAPPING"]`. AC fields are named by perstag (their ids differ per
account); the types are AC's (docs/mapping.md has the full table).

The forms that take these values say, in `crm_fields`, which field each one
goes to, and `RefusesWhatCannotBeSent` refuses there whatever this table
would drop or cut: the attendee hears it while typing, not the SyncLog later.
"""
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from crm_sync.conf import crm_setting
from crm_sync.mapping import CrmMapping, Field, check_sendable, crm_mapping

from .badges.models import DIETARY_CHOICES, VOLUNTEER_CHOICES, Badge, Event

# Choice key -> AC option value (account-fields.json).
DIETARY_OPTIONS = dict(DIETARY_CHOICES)
VOLUNTEER_OPTIONS = dict(VOLUNTEER_CHOICES)


EARLIEST_BIRTH_YEAR = 1900


def plausible_birth_date(value):
    """Why `value` is not a date of birth to send, or None."""
    if value > timezone.localdate():
        return "in the future"
    if value.year < EARLIEST_BIRTH_YEAR:
        return f"before {EARLIEST_BIRTH_YEAR}"
    return None


def badge_image_url(attendee):
    image = attendee.latest.profile_image
    if not image:
        return ""
    return crm_setting("PUBLIC_BASE_URL").rstrip("/") + image.url


def events_attended(attendee):
    badges = sorted(attendee.records, key=lambda badge: (badge.event.starts_on, badge.event.name))
    return "\n".join(badge.event.name for badge in badges)


class BadgeMakerMapping(CrmMapping):
    """A person is an attendee (`accounts.User`); a confirmed `Badge` makes
    them a contact; `User.crm_opt_in` is their consent to be emailed."""

    person_field = "user"
    confirmed_at_field = "confirmed_at"
    changed_at_field = "updated_at"
    opt_in_field = "crm_opt_in"
    record_event_field = "event"
    record_select_related = ("event",)
    person_search_fields = ("first_name", "last_name")
    record_search_fields = ("badge_name",)

    contact = {
        "firstName": Field("firstName", "text", lambda a: a.person.first_name),
        "lastName": Field("lastName", "text", lambda a: a.person.last_name),
        "phone": Field("phone", "phone", lambda a: a.person.phone),
    }

    fields = [
        # `title`: the name crm_sync_schema gives a field it creates, where the organisers'
        # differs from the perstag in words ("Badge Name" from BADGE_NAME).
        Field("DATE_OF_BIRTH", "date", lambda a: a.person.date_of_birth, check=plausible_birth_date,
              title="Date of Birth", accepts=f"a date of birth from 1 January {EARLIEST_BIRTH_YEAR} to today"),
        Field("TWITTER", "text", lambda a: a.person.twitter, title="Twitter / X"),
        Field("INSTAGRAM", "text", lambda a: a.person.instagram),
        Field("FACEBOOK", "text", lambda a: a.person.facebook),
        Field("LINKEDIN", "text", lambda a: a.person.linkedin, title="LinkedIn"),
        Field("TIKTOK", "text", lambda a: a.person.tiktok, title="TikTok"),
        Field("EMERGENCY_CONTACT_NAME", "text", lambda a: a.person.emergency_contact_name),
        Field("EMERGENCY_CONTACT_PHONE", "phone", lambda a: a.person.emergency_contact_phone),
        Field("BADGEMAKER_USER_ID", "hidden", lambda a: a.person.pk, title="Badge Maker User ID"),
        # From the latest confirmed badge:
        Field("BADGE_NAME", "text", lambda a: a.latest.badge_name),
        Field("BADGE_IMAGE_URL", "text", badge_image_url, title="Badge Image URL"),
        Field("DIETARY_PREFERENCES", "checkbox", lambda a: a.latest.dietary_preferences, options=DIETARY_OPTIONS),
        Field("VOLUNTEER_INTERESTS", "checkbox", lambda a: a.latest.volunteer_interests, options=VOLUNTEER_OPTIONS),
        Field("DIETARY_REQUIREMENTS", "textarea", lambda a: a.latest.dietary_requirements),
        Field("LAST_EVENT", "text", lambda a: a.latest.event.name),
        Field("LAST_BADGE_CONFIRMED", "date", lambda a: a.latest.confirmed_at),
        Field("EVENTS_ATTENDED", "textarea", events_attended),
    ]

    def tags(self, attendee):
        return ["badge-maker"] + [f"event:{badge.event.slug}" for badge in attendee.records]

    def schema_tags(self):
        return ["badge-maker"] + [f"event:{slug}" for slug in Event.objects.values_list("slug", flat=True)]

    # A badge is confirmed by its status; `confirmed_at` says when.
    def confirmed_filter(self):
        return Q(status=Badge.Status.CONFIRMED)

    def is_confirmed(self, record):
        return record.status == Badge.Status.CONFIRMED

    def event_filter(self, event):
        return Q(event__slug=event)


class RefusesWhatCannotBeSent:
    """A form mixin: each field named in `crm_fields` ({form field: the CRM
    field it is sent as, a contact attribute or a perstag}) is refused, in
    crm_sync's words (`check_sendable`), when the mapping would not send it
    as typed. So whatever the form saves reaches the CRM unchanged."""

    crm_fields = {}

    def clean(self):
        cleaned_data = super().clean()
        mapping = crm_mapping()
        for name, where in self.crm_fields.items():
            spec = mapping.field(where)
            if spec is None or name not in self.cleaned_data:  # not sent, or refused already
                continue
            try:
                check_sendable(spec, self.cleaned_data[name])
            except ValidationError as error:
                self.add_error(name, error)
        return cleaned_data
