"""Shared fixtures: people, events and badges, and AC settings for tests."""
import secrets

import pytest
from django.utils import timezone

from badgemaker.accounts.models import User
from badgemaker.badges.models import Badge, Event

AC_URL = "https://badgemaker.api-us1.com"
# A fresh random key per run, long enough that finding it anywhere is no accident.
API_KEY = secrets.token_urlsafe(36)


@pytest.fixture
def ac_settings(settings):
    """crm_sync pointed at a (mocked) AC account, with the database as coordination backend."""
    settings.ACTIVECAMPAIGN_URL = AC_URL
    settings.ACTIVECAMPAIGN_API_KEY = API_KEY
    settings.CRM_SYNC = {
        **settings.CRM_SYNC,
        "REDIS_URL": "",
        "RATE_LIMIT_PER_SECOND": 1000.0,
        "PUBLIC_BASE_URL": "https://badges.example.org",
        "PHONE_REGION": "GB",
        "RETRY_AFTER_MAX_WAIT": 1.0,
    }
    return settings


@pytest.fixture
def make_event(db):
    def make(slug="pycon-2026", name="PyCon 2026", starts_on="2026-06-01"):
        return Event.objects.create(slug=slug, name=name, starts_on=starts_on)

    return make


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(**fields):
        n = next(counter)
        defaults = {"email": f"attendee{n}@example.com", "first_name": "Ada", "last_name": "Lovelace",
                    "crm_opt_in": True}
        defaults.update(fields)
        return User.objects.create_user(username=defaults["email"].strip().lower(), password="x" * 12, **defaults)

    return make


@pytest.fixture
def confirm_badge(db, make_event):
    """Create and confirm a badge the way the confirmation view does."""

    def confirm(user, event=None, confirmed_at=None, **fields):
        event = event or Event.objects.filter(slug="pycon-2026").first() or make_event()
        badge, _ = Badge.objects.get_or_create(user=user, event=event, defaults={"badge_name": fields.pop("badge_name", "Ada")})
        for name, value in fields.items():
            setattr(badge, name, value)
        badge.confirm()
        if confirmed_at:
            badge.confirmed_at = confirmed_at
        badge.save()
        return badge

    return confirm


@pytest.fixture
def now():
    return timezone.now()
