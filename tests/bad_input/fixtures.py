"""Fixtures and helpers shared by tests/bad_input and tests/security (each
conftest imports the fixtures): crm_sync pointed at the in-process AC sandbox
for syncs run inline (no worker, no broker), an event, and the badge page
driven as an attendee would."""
import datetime
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse

from badgemaker.badges.models import Event
from crm_sync.models import SyncLog
from crm_sync.attempts import run_attempt


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


PASSWORD = "correct horse battery staple"


@pytest.fixture
def no_broker():
    """Runs no broker: the tests run each sync themselves."""
    with mock.patch("crm_sync.tasks.sync_person.apply_async") as apply_async:
        yield apply_async


def badge_page(event, email, **typed):
    """Sign up and post the badge page as an attendee; returns (client, response)."""
    client = Client()
    response = client.post(reverse("accounts:signup"), {
        "email": email, "first_name": "Ada", "last_name": "Lovelace", "password1": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 302, response.content[:2000]
    form = {
        "first_name": "Ada", "last_name": "Lovelace", "email": email, "date_of_birth": "1990-12-10",
        "phone": "020 7946 0018", "emergency_contact_name": "Charles", "emergency_contact_phone": "07911 123456",
        "twitter": "", "instagram": "", "facebook": "", "linkedin": "", "tiktok": "", "crm_opt_in": "on",
        "badge_name": "Ada", "dietary_preferences": ["vegan"], "volunteer_interests": [],
        "dietary_requirements": "",
    }
    form.update(typed)
    return client, client.post(reverse("badges:badge", args=[event.slug]), form)


def confirm_and_sync(client, event, email):
    """Confirm through the web, then run the queued attempt against the sandbox. Returns the SyncLog row."""
    assert client.post(reverse("badges:confirm", args=[event.slug])).status_code == 302
    log = SyncLog.objects.filter(email=email.lower()).latest("id")
    run_attempt(log.pk).follow_up
    log.refresh_from_db()
    return log


def synced(sandbox_settings, event, email, **typed):
    client, response = badge_page(event, email, **typed)
    assert response.status_code == 302, response.content.decode()[:3000]
    log = confirm_and_sync(client, event, email)
    return client, log, sandbox_settings.control.contact(email)
