"""Purging and redacting old SyncLog rows, the command, and the retention check."""
import datetime

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from crm_sync.checks import check_log_retention
from crm_sync.models import ContactState, SyncLog
from crm_sync.retention import purge_old_logs
from tests.factories import ContactStateFactory
from tests.staff_tools.conftest import XSS_BODY, payload

pytestmark = pytest.mark.django_db
D = datetime.timedelta(days=1)


@pytest.fixture
def history(make_user, make_log):
    """Ada's attempts over 120 days, Grace's one old success, and a row of a deleted person."""
    ada, grace = make_user(email="ada@example.com"), make_user(email="grace@example.com")
    state = ContactStateFactory(user=ada, account_url="https://acme.api-us1.com", ac_contact_id="9",
                                sent={"email": "ada@example.com", "contact": {}, "fields": {}})
    full = payload(email="ada@example.com", contact={"firstName": "Ada"}, fields={"TWITTER": "@ada"},
                   tags=["badge-maker"])
    requests = [{"method": "GET", "path": "/api/3/contacts?email=ada%40example.com", "body": None, "status": 200,
                 "response": '{"contacts": [{"email": "ada@example.com"}]}', "ms": 40},
                {"method": "POST", "path": "/api/3/contact/sync", "body": {"contact": {"email": "ada@example.com",
                 "fieldValues": [{"field": "3", "value": "@ada"}]}}, "status": 422, "response": XSS_BODY, "ms": 9}]
    rows = {
        "ancient_success": make_log(ada, ago=120 * D, payload=full),
        "ancient_failure": make_log(ada, ago=110 * D, status="failed", payload=full, requests=requests),
        "ancient_queued": make_log(ada, ago=100 * D, status="queued"),
        "old_failure": make_log(ada, ago=60 * D, status="failed", error_category="validation",
                                error_message="ada@example.com is invalid", payload=full, requests=requests,
                                warnings=["PHONE: 0123 is not a valid phone number, not sent"], api_calls=2),
        "latest_success": make_log(ada, ago=45 * D, payload=full, requests=requests),
        "withdrawal": make_log(ada, ago=40 * D),  # a success with no payload (unsubscribed)
        "recent": make_log(ada, ago=5 * D, status="failed", payload=full),
        "grace_only_success": make_log(grace, ago=200 * D, payload=full),
        "nobody": make_log(None, ago=100 * D, status="skipped", email="gone@example.com"),
    }
    return ada, state, rows


def alive(rows):
    existing = set(SyncLog.objects.values_list("pk", flat=True))
    return {name for name, row in rows.items() if row.pk in existing}


def test_purge_deletes_old_rows_but_never_open_ones_or_the_latest_success(history):
    ada, state, rows = history

    result = purge_old_logs(older_than_days=90, redact_after_days=30)

    assert alive(rows) == {"ancient_queued", "old_failure", "latest_success", "withdrawal", "recent",
                           "grace_only_success"}
    assert result.deleted == 3
    assert ContactState.objects.filter(pk=state.pk).exists()


def test_redaction_blanks_values_and_keeps_keys_statuses_times_and_counts(history):
    ada, state, rows = history
    before = rows["old_failure"]

    result = purge_old_logs(older_than_days=90, redact_after_days=30)
    after = SyncLog.objects.get(pk=before.pk)

    assert result.redacted == 2  # old_failure and withdrawal; latest_success and open rows are kept as they are
    assert after.redacted_at is not None
    assert after.email == "" and after.error_message == ""
    assert after.payload == {"email": "", "contact": {"firstName": ""}, "fields": {"TWITTER": ""}, "tags": [""],
                             "list_status": 1}
    assert after.requests == [
        {"method": "GET", "path": "/api/3/contacts", "body": None, "status": 200, "response": "", "ms": 40},
        {"method": "POST", "path": "/api/3/contact/sync", "status": 422, "response": "", "ms": 9,
         "body": {"contact": {"email": "", "fieldValues": [{"field": "", "value": ""}]}}},
    ]
    assert after.warnings == ["PHONE: (redacted)"]
    assert (after.status, after.error_category, after.api_calls, after.attempt, after.created_at,
            after.finished_at, after.user_id) == (
        "failed", "validation", 2, 1, before.created_at, before.finished_at, ada.pk)
    kept = SyncLog.objects.get(pk=rows["latest_success"].pk)
    assert kept.redacted_at is None and kept.payload["fields"] == {"TWITTER": "@ada"}
    assert SyncLog.objects.get(pk=rows["recent"].pk).redacted_at is None


def test_a_second_run_changes_nothing(history):
    purge_old_logs(older_than_days=90, redact_after_days=30)

    again = purge_old_logs(older_than_days=90, redact_after_days=30)

    assert (again.deleted, again.redacted) == (0, 0)


def test_what_changed_still_has_the_previous_payload_after_a_purge(viewer, history, make_log):
    ada, state, rows = history
    purge_old_logs(older_than_days=30, redact_after_days=10)
    newer = make_log(ada, payload=payload(email="ada@example.com", contact={"firstName": "Ada"},
                                          fields={"TWITTER": "@ada_l"}, tags=["badge-maker"]))

    page = viewer.get(reverse("admin:crm_sync_synclog_changes", args=[newer.pk]))

    assert page.context["previous"] == rows["latest_success"]
    assert page.context["changes"] == [("Field TWITTER", "@ada", "@ada_l")]


def test_batches_cover_every_row(history, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PURGE_BATCH_SIZE": 1}

    result = purge_old_logs(older_than_days=90, redact_after_days=30)

    assert (result.deleted, result.redacted) == (3, 2)


def test_command_dry_run_prints_counts_and_changes_nothing(history, capsys):
    count = SyncLog.objects.count()

    call_command("purge_sync_logs", "--older-than", "90", "--dry-run")

    assert capsys.readouterr().out.strip() == (
        "would delete 3 sync attempt(s) older than 90 days; would redact 2 older than 30 days.")
    assert SyncLog.objects.count() == count
    assert not SyncLog.objects.filter(redacted_at__isnull=False).exists()


def test_command_purges_with_the_settings_by_default(history, capsys, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "LOG_RETENTION_DAYS": 50, "REDACT_AFTER_DAYS": 3}
    ada, state, rows = history

    call_command("purge_sync_logs")

    assert capsys.readouterr().out.strip() == (
        "deleted 4 sync attempt(s) older than 50 days; redacted 2 older than 3 days.")
    assert alive(rows) == {"ancient_queued", "latest_success", "withdrawal", "recent", "grace_only_success"}


def test_command_refuses_a_nonsense_age():
    with pytest.raises(CommandError):
        call_command("purge_sync_logs", "--older-than", "0")


def test_check_warns_when_retention_is_shorter_than_the_dashboard(settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "LOG_RETENTION_DAYS": 14}

    (warning,) = check_log_retention(None)

    assert warning.id == "crm_sync.W003" and "14" in warning.msg and "30-day" in warning.msg


def test_check_is_quiet_by_default():
    assert check_log_retention(None) == []
