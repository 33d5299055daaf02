from datetime import timedelta

import pytest
from django.utils import timezone

from badgemaker.accounts.models import User
from badgemaker.badges.models import Badge, Event

PASSWORD = "correct horse battery"


@pytest.fixture
def event(db):
    return Event.objects.create(name="PyCon Test", slug="pycon-test", starts_on=timezone.localdate() + timedelta(days=10))


@pytest.fixture
def attendee(db):
    return User.objects.create_user(
        username="ada@example.com", email="Ada@Example.com", password=PASSWORD, first_name="Ada", last_name="Lovelace"
    )


@pytest.fixture
def attendee_client(client, attendee):
    client.force_login(attendee)
    return client


@pytest.fixture
def make_badge(attendee, event):
    def make(**fields):
        return Badge.objects.create(user=attendee, event=event, **{"badge_name": "Ada", **fields})

    return make


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
