"""End-to-end fixtures: a real `celery worker` process (two pool processes)
and the AC sandbox over real sockets, on whatever database and broker the
environment names (PostgreSQL + Redis in CI, SQLite + filesystem locally)."""
import os

import pytest
from django.urls import reverse

from tests.e2e.processes import Worker, purge_broker, worker_env

E2E_ENV = {
    # CI-sized sweep ages, so stranded rows are found in seconds.
    "CRM_SYNC_SWEEP_INTERVAL": 1,
    "CRM_SYNC_QUEUED_SWEEP_AFTER": 3,
    "CRM_SYNC_REDISPATCH_AFTER": 10,
}


@pytest.fixture
def worker_settings():
    """Extra environment for the worker; a test module overrides this fixture to change it."""
    return {}


@pytest.fixture
def worker(ac_sandbox, transactional_db, tmp_path, settings, worker_settings):
    """A worker with beat, started after the test database exists."""
    settings.ACTIVECAMPAIGN_URL = ac_sandbox.url
    settings.ACTIVECAMPAIGN_API_KEY = ac_sandbox.api_key
    purge_broker()
    env = worker_env(ac_sandbox, **{**E2E_ENV, **worker_settings})
    process = Worker(tmp_path, env, concurrency=2, beat=True).start()
    yield process
    process.stop()
    if os.environ.get("CRM_SYNC_SHOW_WORKER_LOG"):
        print(process.output())


def confirm_through_web(client, event, email, opt_in=True, **about):
    """Sign up, fill in the badge page and confirm, as an attendee would."""
    password = "correct horse battery staple"
    response = client.post(reverse("accounts:signup"), {
        "email": email, "first_name": about.pop("first_name", "Ada"), "last_name": about.pop("last_name", "Lovelace"),
        "password1": password, "password2": password,
    })
    assert response.status_code == 302, response.content[:2000]
    form = {
        "first_name": "Ada", "last_name": "Lovelace", "email": email, "date_of_birth": "1990-12-10",
        "phone": "020 7946 0018", "emergency_contact_name": "Charles", "emergency_contact_phone": "07911 123456",
        "twitter": "@ada", "instagram": "", "facebook": "", "linkedin": "", "tiktok": "",
        "badge_name": "Countess Ada", "dietary_preferences": ["vegan", "halal"],
        "volunteer_interests": ["photography"], "dietary_requirements": "No peanuts",
    }
    form.update(about)
    if opt_in:
        form["crm_opt_in"] = "on"
    response = client.post(reverse("badges:badge", args=[event.slug]), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    response = client.post(reverse("badges:confirm", args=[event.slug]))
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    client.logout()
    return page
