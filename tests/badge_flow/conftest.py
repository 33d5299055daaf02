"""Badge Maker's own pages: an upcoming event, an attendee (logged in or not)
who has not yet agreed to hear from the organisers, and their badge."""
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.badge_pages import PASSWORD
from tests.factories import BadgeFactory, EventFactory, UserFactory


@pytest.fixture
def event(db):
    return EventFactory(name="PyCon Test", slug="pycon-test", starts_on=timezone.localdate() + timedelta(days=10))


@pytest.fixture
def attendee(db):
    return UserFactory(email="Ada@Example.com", password=PASSWORD, crm_opt_in=False)


@pytest.fixture
def attendee_client(client, attendee):
    client.force_login(attendee)
    return client


@pytest.fixture
def make_badge(attendee, event):
    """The attendee's draft badge for the event; `fields` set its values."""

    def make(**fields):
        return BadgeFactory(user=attendee, event=event, **fields)

    return make


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
