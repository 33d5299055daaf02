"""The health check (crm_sync/health.py): `health/` answers 200 with JSON
detail, or 503 naming what is wrong, without a login and without personal
data; `crm_sync_status --check` exits 0 or 1 on the same report."""
import datetime
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from crm_sync.attempts import pause
from crm_sync.breaker import CircuitBreaker
from crm_sync.conf import ac_account
from crm_sync.health import evaluate
from crm_sync.models import SyncLog
from crm_sync.testing import run_syncs_eagerly
from tests.factories import BadgeFactory, SyncLogFactory, UserFactory

HEALTH = reverse("crm_sync:health")


def get_health(client):
    response = client.get(HEALTH)
    return response.status_code, json.loads(response.content)


def check(status_command_args=()):
    """`crm_sync_status --check`: (exit code, what it printed)."""
    out = StringIO()
    try:
        call_command("crm_sync_status", "--check", *status_command_args, stdout=out)
    except SystemExit as exit:
        return exit.code, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_after_ac_goes_down_and_the_breaker_opens_the_next_evaluation_is_503_naming_the_breaker(
        client, sandbox_settings, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "BREAKER_FAILURES": 2, "MAX_ATTEMPTS": 1}
    assert get_health(client)[1]["checks"]["breaker"]["status"] == "ok"
    sandbox_settings.control.set_faults(down="503")

    with run_syncs_eagerly(max_wait=0):
        for n in range(2):
            BadgeFactory(user=UserFactory(email=f"person{n}@example.com"), confirmed=True)
    assert CircuitBreaker(ac_account()[0]).is_open()

    status, report = get_health(client)
    assert status == 503
    assert report["status"] == "unhealthy"
    assert report["checks"]["breaker"]["status"] == "unhealthy"
    assert report["checks"]["breaker"]["detail"].startswith("circuit breaker open (outage) since ")
    code, printed = check()
    assert code == 1
    assert "breaker: circuit breaker open (outage)" in printed


@pytest.mark.django_db
def test_a_queued_row_older_than_the_limit_is_503_and_the_report_names_no_one(client, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "HEALTH_MAX_QUEUED_AGE": 60}
    ada = UserFactory(email="ada.lovelace@example.com")
    SyncLogFactory(user=ada, status=SyncLog.Status.QUEUED, ago=datetime.timedelta(seconds=30))
    assert evaluate(["queued_age"]).healthy

    SyncLogFactory(user=ada, status=SyncLog.Status.QUEUED, ago=datetime.timedelta(seconds=120))
    response = client.get(HEALTH)

    assert response.status_code == 503
    detail = json.loads(response.content)["checks"]["queued_age"]
    assert detail["status"] == "unhealthy"
    assert detail["detail"].startswith("oldest queued sync is 12")
    assert detail["detail"].endswith("s old (limit 60s)")
    assert b"ada" not in response.content.lower() and b"example.com" not in response.content


@pytest.mark.django_db
def test_without_a_worker_the_workers_check_fails_and_the_command_exits_1(client):
    status, report = get_health(client)

    assert status == 503
    assert report["checks"]["workers"] == {**report["checks"]["workers"], "status": "unhealthy",
                                           "detail": "Celery workers unavailable"}
    assert report["checks"]["database"]["status"] == "ok"
    assert report["checks"]["broker"]["status"] == "ok"
    code, printed = check()
    assert code == 1
    assert printed.strip() == "workers: Celery workers unavailable"


@pytest.mark.django_db
def test_a_pause_chosen_on_purpose_is_a_warning_not_a_failure():
    pause("AC maintenance window")

    report = evaluate(["sending", "breaker", "queued_age"])

    assert report.healthy
    assert report.as_dict()["checks"]["sending"] == {
        **report.as_dict()["checks"]["sending"], "status": "warning",
        "detail": "paused on purpose (operator): AC maintenance window"}
