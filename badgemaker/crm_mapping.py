"""How Badge Maker's data becomes an ActiveCampaign contact.

The one table to edit when a field is added: crm_sync reads it through
`CRM_SYNC["MAPPING"]`. AC fields are named by perstag (their ids differ per
account); the types are AC's (docs/mapping.md has the full table).
"""
from django.db.models import F, Q
from django.utils import timezone

from crm_sync.conf import crm_setting
from crm_sync.mapping import Attendee, Field

from .badges.models import DIETARY_CHOICES, VOLUNTEER_CHOICES, Badge

# Choice key -> AC option value (account-fields.json).
DIETARY_OPTIONS = dict(DIETARY_CHOICES)
VOLUNTEER_OPTIONS = dict(VOLUNTEER_CHOICES)


def plausible_birth_date(value):
    if value > timezone.localdate():
        return "in the future"
    if value.year < 1900:
        return "before 1900"
    return None


def badge_image_url(attendee):
    image = attendee.latest.profile_image
    if not image:
        return ""
    return crm_setting("PUBLIC_BASE_URL").rstrip("/") + image.url


def events_attended(attendee):
    badges = sorted(attendee.badges, key=lambda badge: (badge.event.starts_on, badge.event.name))
    return "\n".join(badge.event.name for badge in badges)


def EMAIL(attendee):
    return attendee.person.email


CONTACT = {
    "firstName": Field("firstName", "text", lambda a: a.person.first_name),
    "lastName": Field("lastName", "text", lambda a: a.person.last_name),
    "phone": Field("phone", "phone", lambda a: a.person.phone),
}

FIELDS = [
    Field("DATE_OF_BIRTH", "date", lambda a: a.person.date_of_birth, check=plausible_birth_date),
    Field("TWITTER", "text", lambda a: a.person.twitter),
    Field("INSTAGRAM", "text", lambda a: a.person.instagram),
    Field("FACEBOOK", "text", lambda a: a.person.facebook),
    Field("LINKEDIN", "text", lambda a: a.person.linkedin),
    Field("TIKTOK", "text", lambda a: a.person.tiktok),
    Field("EMERGENCY_CONTACT_NAME", "text", lambda a: a.person.emergency_contact_name),
    Field("EMERGENCY_CONTACT_PHONE", "phone", lambda a: a.person.emergency_contact_phone),
    Field("BADGEMAKER_USER_ID", "hidden", lambda a: a.person.pk),
    # From the latest confirmed badge:
    Field("BADGE_NAME", "text", lambda a: a.latest.badge_name),
    Field("BADGE_IMAGE_URL", "text", badge_image_url),
    Field("DIETARY_PREFERENCES", "checkbox", lambda a: a.latest.dietary_preferences, options=DIETARY_OPTIONS),
    Field("VOLUNTEER_INTERESTS", "checkbox", lambda a: a.latest.volunteer_interests, options=VOLUNTEER_OPTIONS),
    Field("DIETARY_REQUIREMENTS", "textarea", lambda a: a.latest.dietary_requirements),
    Field("LAST_EVENT", "text", lambda a: a.latest.event.name),
    Field("LAST_BADGE_CONFIRMED", "date", lambda a: a.latest.confirmed_at),
    Field("EVENTS_ATTENDED", "textarea", events_attended),
]


def tags(attendee):
    return ["badge-maker"] + [f"event:{badge.event.slug}" for badge in attendee.badges]


def load_attendee(user):
    """The person with their confirmed badges, the latest last (latest
    `confirmed_at`, then highest id), whatever order syncs run in."""
    badges = (
        Badge.objects.filter(user=user, status=Badge.Status.CONFIRMED)
        .select_related("event")
        # A badge confirmed by raw SQL may lack confirmed_at: it counts as the oldest.
        .order_by(F("confirmed_at").asc(nulls_first=True), "id")
    )
    return Attendee(person=user, badges=list(badges))


def is_opted_in(user):
    return bool(user.crm_opt_in)


def person_to_sync(badge):
    """The person whose contact a saved badge changes, or None for a draft."""
    return badge.user if badge.status == Badge.Status.CONFIRMED else None


def latest_confirmed_badge(user):
    """The badge a profile change is filed under, or None if the person has no confirmed badge."""
    return Badge.objects.filter(user=user, status=Badge.Status.CONFIRMED).order_by("-confirmed_at", "-id").first()


def people_changed_since():
    """(person, latest confirmed badge) for opted-in people with a confirmed
    badge changed or confirmed after their latest sync attempt, or never
    attempted at all: what the reconciler must queue, because
    `queryset.update()`, `loaddata`, raw SQL and data migrations fire no
    `post_save`. (Such writes must set `confirmed_at`: `updated_at` only
    moves on `save()`.)"""
    from django.db.models import OuterRef, Subquery

    from crm_sync.models import SyncLog

    last_attempt = SyncLog.objects.filter(user=OuterRef("user")).order_by("-created_at").values("created_at")[:1]
    changed = (
        Badge.objects.filter(status=Badge.Status.CONFIRMED, user__crm_opt_in=True)
        .annotate(last_attempt=Subquery(last_attempt))
        .filter(Q(last_attempt__isnull=True) | Q(updated_at__gt=F("last_attempt"))
                | Q(confirmed_at__gt=F("last_attempt")))
        .values_list("user_id", flat=True)
        .distinct()
    )
    for user in Badge.user.field.related_model.objects.filter(pk__in=changed).iterator():
        yield user, latest_confirmed_badge(user)


# -- resync (crm_sync's resync_crm command) -------------------------------------
def confirmed_badges_between(start, end, event_slug=None):
    """Badges still confirmed whose `confirmed_at` is in [start, end) (aware
    datetimes), of one event if `event_slug` is given."""
    badges = Badge.objects.filter(status=Badge.Status.CONFIRMED, confirmed_at__gte=start, confirmed_at__lt=end)
    if event_slug:
        badges = badges.filter(event__slug=event_slug)
    return badges


def resync_people(start, end, event_slug=None):
    """The people (user queryset) with a badge that `confirmed_badges_between` selects."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk__in=confirmed_badges_between(start, end, event_slug).values("user_id"))


def opted_in_filter():
    """`is_opted_in` as a filter on the user model, for selecting in the database."""
    return Q(crm_opt_in=True)
