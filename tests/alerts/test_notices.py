"""How alerts are sent: once when a condition starts and once when it ends,
however many evaluations pass; nothing for a blip shorter than the hold; a
failing channel never stops the other and is tried again; two overlapping
evaluations send nothing twice; and the history shown to staff."""
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm_sync import alerts
from crm_sync.models import Alert, SyncLog
from crm_sync.shared_state import backend
from tests.alerts.conftest import WEBHOOK_SECRET_PATH
from tests.factories import SyncLogFactory

pytestmark = pytest.mark.django_db


def stuck_row(minutes=11):
    """A sync queued for longer than ALERT_QUEUED_AGE: the queued_too_long rule's condition."""
    return SyncLogFactory(status=SyncLog.Status.QUEUED, ago=timedelta(minutes=minutes))


def test_an_alert_is_sent_once_when_it_starts_and_once_when_it_ends(alert_settings, chat_webhook):
    row = stuck_row()
    for _ in range(5):
        alerts.evaluate()
    assert [m.subject for m in mail.outbox] == ["[Badge Maker] ALERT: A sync queued too long"]
    assert mail.outbox[0].to == ["oncall@example.org"]
    assert f"SyncLog row {row.pk}" in mail.outbox[0].body and "docs/runbook.md" in mail.outbox[0].body
    assert len(chat_webhook.messages) == 1
    assert chat_webhook.messages[0]["text"].startswith("ALERT: A sync queued too long")
    assert chat_webhook.messages[0]["blocks"][0]["text"]["text"] == "ALERT: A sync queued too long"

    SyncLog.objects.filter(pk=row.pk).update(status=SyncLog.Status.SUCCESS, finished_at=timezone.now())
    for _ in range(5):
        alerts.evaluate()
    assert [m.subject for m in mail.outbox][1:] == ["[Badge Maker] Resolved: A sync queued too long"]
    assert [text.splitlines()[0] for text in chat_webhook.texts()][1:] == ["Resolved: A sync queued too long"]
    alert = Alert.objects.get()
    assert (alert.state, alert.rule) == ("resolved", "queued_too_long")
    assert {key: record["state"] for key, record in alert.deliveries.items()} == {
        "fired:email": "sent", "fired:webhook": "sent", "resolved:email": "sent", "resolved:webhook": "sent"}


def test_the_same_condition_starting_again_is_a_new_alert(alert_settings, chat_webhook):
    row = stuck_row()
    alerts.evaluate()
    SyncLog.objects.filter(pk=row.pk).update(status=SyncLog.Status.SUCCESS)
    alerts.evaluate()
    stuck_row()
    alerts.evaluate()
    assert Alert.objects.filter(state="firing").count() == 1 and Alert.objects.count() == 2
    assert len(mail.outbox) == 3 and len(chat_webhook.messages) == 3


def test_a_flapping_condition_held_back_sends_nothing(alert_settings, chat_webhook):
    alert_settings.CRM_SYNC = {**alert_settings.CRM_SYNC, "ALERT_HOLD_SECONDS": 300}
    start = timezone.now()
    for minute in range(0, 20, 2):  # on for a minute or two, off, on again…: never 5 minutes in a row
        row = stuck_row()
        alerts.evaluate(now=start + timedelta(minutes=minute))
        assert Alert.objects.get().state == "pending"
        SyncLog.objects.filter(pk=row.pk).update(status=SyncLog.Status.SUCCESS)
        alerts.evaluate(now=start + timedelta(minutes=minute + 1))
        assert not Alert.objects.exists()
    assert mail.outbox == [] and chat_webhook.messages == []


def test_a_condition_that_outlasts_the_hold_is_sent_once(alert_settings, chat_webhook):
    alert_settings.CRM_SYNC = {**alert_settings.CRM_SYNC, "ALERT_HOLD_SECONDS": 300}
    start = timezone.now()
    stuck_row()
    alerts.evaluate(now=start)
    alerts.evaluate(now=start + timedelta(seconds=299))
    assert mail.outbox == []
    alerts.evaluate(now=start + timedelta(seconds=300))
    alerts.evaluate(now=start + timedelta(seconds=360))
    assert len(mail.outbox) == 1 and len(chat_webhook.messages) == 1


def test_a_rule_held_back_on_its_own_by_rule_setting(alert_settings, chat_webhook):
    alert_settings.CRM_SYNC = {**alert_settings.CRM_SYNC, "ALERT_HOLD_SECONDS_BY_RULE": {"queued_too_long": "600"}}
    stuck_row()
    alerts.evaluate()
    alerts.evaluate(now=timezone.now() + timedelta(seconds=599))
    assert mail.outbox == []
    alerts.evaluate(now=timezone.now() + timedelta(seconds=601))
    assert len(mail.outbox) == 1


def test_a_failing_webhook_does_not_stop_the_email_and_is_tried_again(alert_settings, chat_webhook, caplog):
    chat_webhook.status = 500
    stuck_row()
    with caplog.at_level(logging.WARNING, logger="crm_sync"):
        alerts.evaluate()
        alerts.evaluate()
    assert len(mail.outbox) == 1, "the email went out while the webhook failed"
    record = Alert.objects.get().deliveries["fired:webhook"]
    assert (record["state"], record["tries"]) == ("failed", 2) and "500" in record["error"]
    assert "alert_delivery_failed" in caplog.text
    assert WEBHOOK_SECRET_PATH not in caplog.text and "s3cret" not in caplog.text  # the URL is a secret

    chat_webhook.status = 200
    alerts.evaluate()
    alerts.evaluate()
    assert len(chat_webhook.messages) == 1 and len(mail.outbox) == 1
    assert Alert.objects.get().deliveries["fired:webhook"]["state"] == "sent"


def test_an_unreachable_webhook_is_logged_without_its_secret(alert_settings, chat_webhook, caplog):
    chat_webhook.server.shutdown()
    chat_webhook.server.server_close()  # nothing listens on its port any more: connection refused
    stuck_row()
    with caplog.at_level(logging.WARNING, logger="crm_sync"):
        alerts.evaluate()
    record = Alert.objects.get().deliveries["fired:webhook"]
    assert record["state"] == "failed" and "ConnectionError" in record["error"]
    assert "s3cret" not in caplog.text and "s3cret" not in record["error"]
    assert len(mail.outbox) == 1


def test_channels_not_set_up_are_skipped(alert_settings):
    alert_settings.ADMINS = []
    alert_settings.CRM_SYNC = {**alert_settings.CRM_SYNC, "ALERT_WEBHOOK_URL": ""}
    stuck_row()
    alerts.evaluate()
    deliveries = Alert.objects.get().deliveries
    assert {key: record["state"] for key, record in deliveries.items()} == {
        "fired:email": "skipped", "fired:webhook": "skipped"}
    assert mail.outbox == []


def test_a_skipped_channel_says_what_to_set(alert_settings, admin_client):
    alert_settings.ADMINS = []
    alert_settings.CRM_SYNC = {**alert_settings.CRM_SYNC, "ALERT_WEBHOOK_URL": ""}
    stuck_row()
    alerts.evaluate()
    alert = Alert.objects.get()

    detail = admin_client.get(f"/admin/crm_sync/alert/{alert.pk}/change/").content.decode()
    listing = admin_client.get("/admin/crm_sync/alert/").content.decode()

    # The detail has the whole story, named by the variables to set; the list a summary.
    assert ("fired by email: skipped (no ADMINS to email; set DJANGO_ADMINS); "
            "fired by webhook: skipped (no webhook URL; set CRM_SYNC_ALERT_WEBHOOK_URL)") in detail
    assert '<td class="field-notices">email skipped · webhook skipped</td>' in listing
    assert "DJANGO_ADMINS" not in listing


@pytest.mark.parametrize("deliveries, summary", [
    ({}, "nothing yet (held back)"),
    ({"fired:email": {"state": "sent"}, "fired:webhook": {"state": "failed", "tries": 2, "error": "500"}},
     "email sent · webhook failed"),
    ({"fired:email": {"state": "sent"}, "fired:webhook": {"state": "sent"},
      "resolved:email": {"state": "sent"}, "resolved:webhook": {"state": "sent"}}, "email sent · webhook sent"),
    ({"resolved:email": {"state": "sent"}, "resolved:webhook": {"state": "pending"},
      "fired:email": {"state": "sent"}, "fired:webhook": {"state": "sent"}},
     "fired: email sent · webhook sent; resolved: email sent · webhook pending"),
])
def test_the_alert_list_sums_up_the_notices(deliveries, summary):
    assert alerts.summarise_deliveries(Alert(rule="breaker_open", message="open", deliveries=deliveries)) == summary


def test_the_command_names_the_time_zone(alert_settings, capsys):
    alert_settings.TIME_ZONE = "Europe/London"
    stuck_row()
    alerts.evaluate()
    first_seen = timezone.localtime(Alert.objects.get().first_seen_at)

    call_command("crm_sync_alerts", "--list")

    zone = first_seen.tzname()
    assert zone in ("GMT", "BST")
    assert f"since {first_seen:%Y-%m-%d %H:%M:%S} {zone}" in capsys.readouterr().out


def test_the_test_notice_fails_when_no_channel_is_set_up(alert_settings, capsys):
    alert_settings.ADMINS = []
    alert_settings.CRM_SYNC = {**alert_settings.CRM_SYNC, "ALERT_WEBHOOK_URL": ""}

    with pytest.raises(CommandError, match="No alert channel is set up, so nothing was sent"):
        call_command("crm_sync_alerts", "--send-test")

    assert capsys.readouterr().out.splitlines() == [
        "email: skipped: no ADMINS to email; set DJANGO_ADMINS",
        "webhook: skipped: no webhook URL; set CRM_SYNC_ALERT_WEBHOOK_URL"]


def test_the_test_notice_passes_when_one_channel_is_set_up(alert_settings, capsys):
    alert_settings.CRM_SYNC = {**alert_settings.CRM_SYNC, "ALERT_WEBHOOK_URL": ""}

    call_command("crm_sync_alerts", "--send-test")

    assert capsys.readouterr().out.splitlines()[0] == "email: sent"


def test_an_evaluation_overlapping_another_sends_nothing(alert_settings, chat_webhook):
    stuck_row()
    token = backend().acquire_lock(alerts.LOCK_NAME, 60)  # the other beat tick, still evaluating
    assert alerts.evaluate() is None
    assert mail.outbox == [] and chat_webhook.messages == [] and not Alert.objects.exists()
    backend().release_lock(alerts.LOCK_NAME, token)
    alerts.evaluate()
    assert len(mail.outbox) == 1 and len(chat_webhook.messages) == 1


def test_the_database_keeps_one_open_alert_per_rule(alert_settings):
    Alert.objects.create(rule="breaker_open", message="open")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(rule="breaker_open", state="firing", message="open again")


def test_the_dashboard_shows_open_and_recent_alerts(alert_settings, admin_client):
    row = stuck_row()
    alerts.evaluate()
    page = admin_client.get("/admin/crm_sync/synclog/dashboard/").content.decode()
    assert "crm-alerts-open" in page and "A sync queued too long" in page and "fired by email: sent" in page
    SyncLog.objects.filter(pk=row.pk).update(status=SyncLog.Status.SUCCESS)
    alerts.evaluate()
    page = admin_client.get("/admin/crm_sync/synclog/dashboard/").content.decode()
    assert "No alert open" in page and "crm-alerts-recent" in page and "resolved by webhook: sent" in page


def test_the_admin_lists_alerts_read_only(alert_settings, admin_client):
    stuck_row()
    alerts.evaluate()
    alert = Alert.objects.get()
    listing = admin_client.get("/admin/crm_sync/alert/").content.decode()
    assert "A sync queued too long" in listing and "/admin/crm_sync/alert/add/" not in listing
    detail = admin_client.get(f"/admin/crm_sync/alert/{alert.pk}/change/").content.decode()
    assert "oldest_row" in detail and 'name="_save"' not in detail
    assert admin_client.post(f"/admin/crm_sync/alert/{alert.pk}/delete/").status_code == 403


def test_the_command_evaluates_and_mails_to_a_file(alert_settings, tmp_path, capsys):
    alert_settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    alert_settings.EMAIL_FILE_PATH = str(tmp_path)
    stuck_row()
    call_command("crm_sync_alerts")
    out = capsys.readouterr().out
    assert "FIRING: A sync queued too long" in out and "fired by email: sent" in out
    files = list(Path(tmp_path).iterdir())
    assert len(files) == 1 and "ALERT: A sync queued too long" in files[0].read_text()


def test_the_command_sends_a_test_notice_on_each_channel(alert_settings, chat_webhook, capsys):
    call_command("crm_sync_alerts", "--send-test")
    assert capsys.readouterr().out.splitlines() == ["email: sent", "webhook: sent"]
    assert mail.outbox[0].subject.endswith("Test: crm_sync alerts reach this channel")
    assert len(chat_webhook.messages) == 1 and not Alert.objects.exists()
