"""The staging guard (crm_sync/staging_guard.py): a site whose public URL is
not production's queues its syncs and sends the CRM nothing, says why in the
admin, the status command and the health check, and sends once an operator
resumes on purpose, for good; an environment allowed to send sends."""
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from crm_sync import staging_guard
from crm_sync.attempts import is_paused
from crm_sync.models import SyncLog
from crm_sync.testing import run_syncs_eagerly
from tests.factories import BadgeFactory, UserFactory

pytestmark = pytest.mark.django_db
PRODUCTION = "https://badges.example.org"
STAGING = "https://staging.badges.example.org"


@pytest.fixture
def on_staging(settings, sandbox_settings):
    """The sandbox as the CRM, and this site served from the staging URL."""
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PRODUCTION_URL": PRODUCTION, "PUBLIC_BASE_URL": STAGING}
    return sandbox_settings


def status_output(*args):
    out = StringIO()
    call_command("crm_sync_status", *args, stdout=out)
    return out.getvalue()


def test_the_same_site_written_differently_is_production(settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PRODUCTION_URL": "https://Badges.Example.org.",
                         "PUBLIC_BASE_URL": "https://badges.example.org:443/some/path/"}
    assert staging_guard.reason() == ""
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PUBLIC_BASE_URL": "http://badges.example.org"}
    assert staging_guard.reason().startswith("staging guard: this site (http://badges.example.org:80")


def test_on_staging_a_confirmed_badge_queues_and_the_crm_hears_nothing(on_staging, admin_client, client):
    ada = UserFactory(email="ada@example.com")
    with run_syncs_eagerly():
        BadgeFactory(user=ada, confirmed=True)

    assert list(SyncLog.objects.filter(user=ada).values_list("status", flat=True)) == [SyncLog.Status.QUEUED]
    assert on_staging.control.log() == []
    # Everyone who looks is told why.
    why = "staging guard: this site (https://staging.badges.example.org:443, PUBLIC_BASE_URL) is not production"
    assert why in admin_client.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()
    assert f"Sending:         PAUSED ({why}" in status_output()
    response = client.get(reverse("crm_sync:health"))
    assert response.status_code == 503
    assert json.loads(response.content)["checks"]["sending"]["detail"].startswith(f"paused by the {why}")
    # Nothing else that talks to the CRM goes either.
    with pytest.raises(CommandError, match="sending is paused: staging guard"):
        call_command("crm_consent_pull", stdout=StringIO())
    with pytest.raises(CommandError, match="sending is paused \\(staging guard"):
        call_command("resync_crm", "--since", "2000-01-01", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="register refused: staging guard"):
        call_command("crm_webhooks", "register", stdout=StringIO())
    with pytest.raises(CommandError, match="--apply refused: staging guard"):
        call_command("crm_sync_schema", "--apply", stdout=StringIO())
    assert on_staging.control.log() == []


def test_resuming_on_purpose_sends_the_backlog_and_keeps_sending_after_a_restart(on_staging, settings):
    ada = UserFactory(email="ada@example.com")
    with run_syncs_eagerly():
        BadgeFactory(user=ada, confirmed=True)
        printed = status_output("--resume")

    assert "Overrode the staging guard" in printed
    assert "Recorded for this public URL: it sends from now on, after restarts too." in printed
    assert SyncLog.objects.get(user=ada).status == SyncLog.Status.SUCCESS
    assert on_staging.control.contact("ada@example.com") is not None
    # The override lives in the database: a new process (settings read anew) still sends…
    assert not is_paused()
    # …from this URL only: moved elsewhere, the guard trips again.
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PUBLIC_BASE_URL": "https://other.example.org"}
    assert is_paused()


def test_an_environment_allowed_to_send_sends(on_staging, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "ENVIRONMENT": "staging", "SEND_IN_ENVIRONMENTS": ["staging"]}
    ada = UserFactory(email="ada@example.com")
    with run_syncs_eagerly():
        BadgeFactory(user=ada, confirmed=True)

    assert SyncLog.objects.get(user=ada).status == SyncLog.Status.SUCCESS
    assert on_staging.control.contact("ada@example.com") is not None


def test_without_a_production_url_the_guard_is_off(sandbox_settings, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PRODUCTION_URL": "", "PUBLIC_BASE_URL": STAGING}
    assert not is_paused()
