"""The one place that knows how to build the rows the tests need: Badge
Maker's people, events and badges, and crm_sync's SyncLog and ContactState.

    person = UserFactory(email="ada@example.com")        # opted in to hear from the organisers
    badge = BadgeFactory(user=person, confirmed=True)     # confirmed as the confirm view does: a sync is queued
    draft = BadgeFactory.build(user=UserFactory.build())  # unsaved: no database
    ada = attendee(first_name="Ada")                     # the mapping's view of one person, unsaved

Saving goes through the models as the product does, so saving a confirmed
badge, or changing a person who has one, queues a sync (crm_sync's signals).
"""
import datetime

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory, Password

from badgemaker.accounts.models import User
from badgemaker.badges.models import Badge, Event
from crm_sync.mapping import Attendee
from crm_sync.models import ContactState, SyncLog
from tests.fake_ac import AC_URL


class UserFactory(DjangoModelFactory):
    """An attendee who agreed to hear from the organisers, with a fresh email
    each time. The email is stored as typed (the model strips it and keeps the
    login name in step); the password is unusable unless one is given."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        staff = factory.Trait(is_staff=True, crm_opt_in=False)
        superuser = factory.Trait(is_staff=True, is_superuser=True, crm_opt_in=False)

    email = factory.Sequence(lambda n: f"attendee{n}@example.com")
    username = factory.LazyAttribute(lambda person: person.email.strip().lower())
    first_name = "Ada"
    last_name = "Lovelace"
    crm_opt_in = True
    password = Password(None)


class EventFactory(DjangoModelFactory):
    """PyCon 2026 unless told otherwise; one event per slug."""

    class Meta:
        model = Event
        django_get_or_create = ("slug",)

    name = "PyCon 2026"
    slug = "pycon-2026"
    starts_on = datetime.date(2026, 6, 1)


class BadgeFactory(DjangoModelFactory):
    """A draft badge; `confirmed=True` confirms it now (or at `confirmed_at`)."""

    class Meta:
        model = Badge

    class Params:
        confirmed = factory.Trait(status=Badge.Status.CONFIRMED, confirmed_at=factory.LazyFunction(timezone.now))

    user = factory.SubFactory(UserFactory)
    event = factory.SubFactory(EventFactory)
    badge_name = "Ada"


class ContactStateFactory(DjangoModelFactory):
    """What crm_sync last made the (fake) AC account hold for a person;
    `never_sent=True` for a person crm_sync has not sent yet."""

    class Meta:
        model = ContactState

    class Params:
        never_sent = factory.Trait(ac_contact_id="", sent=None)

    user = factory.SubFactory(UserFactory)
    account_url = AC_URL
    ac_contact_id = factory.Sequence(lambda n: str(n + 1))
    sent = factory.LazyAttribute(lambda state: {"email": state.user.email, "contact": {}, "fields": {}})


class SyncLogFactory(DjangoModelFactory):
    """A SyncLog row written directly, as if a worker had run it (no worker
    runs): created `ago` (default five minutes) and, unless still open,
    finished `seconds` later."""

    class Meta:
        model = SyncLog

    class Params:
        ago = datetime.timedelta(minutes=5)
        seconds = 1.0
        still_open = factory.LazyAttribute(
            lambda log: log.status in (SyncLog.Status.QUEUED, SyncLog.Status.RUNNING))

    user = None
    badge = None
    email = factory.LazyAttribute(lambda log: log.user.email if log.user else "")
    status = SyncLog.Status.SUCCESS
    created_at = factory.LazyAttribute(lambda log: timezone.now() - log.ago)
    started_at = factory.LazyAttribute(lambda log: None if log.still_open else log.created_at)
    finished_at = factory.LazyAttribute(
        lambda log: None if log.still_open else log.created_at + datetime.timedelta(seconds=log.seconds))


def attendee(badge=None, event=None, **person):
    """The mapping's view of one person (crm_sync.mapping.Attendee), built
    unsaved for the pure mapping: the person (`person` fields; pk 7, no last
    name) with one badge (`badge` fields), confirmed on 1 May 2026 for `event`
    (`event` fields; PyCon by default)."""
    person = UserFactory.build(**{"pk": 7, "email": "ada@example.com", "last_name": "", **person})
    event = EventFactory.build(**{"name": "PyCon", "slug": "pycon", **(event or {})})
    record = BadgeFactory.build(**{"user": person, "event": event, "confirmed": True,
                                   "confirmed_at": datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc),
                                   **(badge or {})})
    return Attendee(person=person, records=[record])
