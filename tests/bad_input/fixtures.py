"""Fixtures shared by tests/bad_input and tests/security (each conftest imports
them): crm_sync pointed at the in-process AC sandbox for syncs run inline (no
worker, no broker), and an event."""
import datetime

import pytest

from badgemaker.badges.models import Event


@pytest.fixture
def sandbox_settings(settings, ac_sandbox):
    """crm_sync talks to the sandbox over real sockets, coordinating through
    the database, with no rate limit in the way (these tests are not about it)."""
    ac_sandbox.control.set_faults(rate_limit_per_second=100_000)
    settings.ACTIVECAMPAIGN_URL = ac_sandbox.url
    settings.ACTIVECAMPAIGN_API_KEY = ac_sandbox.api_key
    settings.CRM_SYNC = {
        **settings.CRM_SYNC,
        "REDIS_URL": "",
        "RATE_LIMIT_PER_SECOND": 100_000.0,
        "PUBLIC_BASE_URL": "https://badges.example.org",
        "PHONE_REGION": "GB",
        "BREAKER_FAILURES": 1_000_000,  # 422s and faults here must not open the breaker for the next example
    }
    return ac_sandbox


@pytest.fixture
def event(db):
    return Event.objects.create(name="PyCon <Bad Input> 2026", slug="pycon-bad-input",
                                starts_on=datetime.date(2026, 6, 1))
