"""The badge page's forms against the CRM mapping: an upcoming event, an
attendee logged in, crm_sync's settings (the phone region is GB), and the
hypothesis profile (HYPOTHESIS_PROFILE, tests/hypothesis_profiles.py)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from tests import hypothesis_profiles
from tests.factories import EventFactory, UserFactory

hypothesis_profiles.load()


@pytest.fixture(autouse=True)
def crm_settings(ac_settings, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return ac_settings


@pytest.fixture
def event(db):
    return EventFactory(name="PyCon Test", slug="pycon-test", starts_on=timezone.localdate() + timedelta(days=10))


@pytest.fixture
def attendee(db):
    return UserFactory(email="ada@example.com", crm_opt_in=False)


@pytest.fixture
def attendee_client(client, attendee):
    client.force_login(attendee)
    return client
