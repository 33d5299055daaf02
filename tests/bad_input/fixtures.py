"""Fixtures and helpers shared by tests/bad_input and tests/security (each
conftest imports the fixtures): an event, and the badge page driven as an
attendee would (tests/badge_pages.py) with each sync run inline against the
AC sandbox (`sandbox_settings`, tests/conftest.py): no worker, no broker."""
import datetime

import pytest
from django.test import Client

from crm_sync.attempts import run_attempt
from crm_sync.models import SyncLog
from tests.badge_pages import confirm, fill_in_badge_page, sign_up
from tests.factories import EventFactory

# What these tests type on the badge page unless a test types something else.
PLAIN_BADGE_PAGE = {"twitter": "", "badge_name": "Ada", "dietary_preferences": ["vegan"], "volunteer_interests": [],
                    "dietary_requirements": ""}


@pytest.fixture
def event(db):
    return EventFactory(name="PyCon <Bad Input> 2026", slug="pycon-bad-input", starts_on=datetime.date(2026, 6, 1))


def badge_page(event, email, **typed):
    """Sign up and post the badge page as an attendee; returns (client, response)."""
    client = Client()
    response = sign_up(client, email)
    assert response.status_code == 302, response.content[:2000]
    return client, fill_in_badge_page(client, event, email, **{**PLAIN_BADGE_PAGE, **typed})


def confirm_and_sync(client, event, email):
    """Confirm through the web, then run the queued attempt against the sandbox. Returns the SyncLog row."""
    assert confirm(client, event).status_code == 302
    log = SyncLog.objects.filter(user__email__iexact=email).latest("id")
    run_attempt(log.pk).follow_up
    log.refresh_from_db()
    return log


def synced(sandbox_settings, event, email, **typed):
    client, response = badge_page(event, email, **typed)
    assert response.status_code == 302, response.content.decode()[:3000]
    log = confirm_and_sync(client, event, email)
    return client, log, sandbox_settings.control.contact(email)
