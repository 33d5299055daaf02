"""AC down (the sandbox's "down" fault): real sync attempts open the breaker,
and the on-call person gets one email and one chat message however many
times beat evaluates; AC back, a sync succeeds and closes the breaker, and
one recovery notice arrives on each channel."""
import time

import pytest
from django.core import mail

from crm_sync import alerts
from crm_sync.attempts import run_attempt
from crm_sync.breaker import CircuitBreaker
from crm_sync.conf import ac_account
from crm_sync.models import Alert, SyncLog
from crm_sync.testing import run_syncs_eagerly

pytestmark = pytest.mark.django_db


@pytest.fixture
def outage_settings(sandbox_settings, alert_settings):
    alert_settings.CRM_SYNC = {
        **alert_settings.CRM_SYNC,
        "BREAKER_FAILURES": 2,
        "BREAKER_RESET_SECONDS": 0.5,
        "ALERT_BREAKER_OPEN_SECONDS": 0,  # the rule's own 5 minutes are test_rules.py's
    }
    return sandbox_settings


def test_ac_down_sends_one_alert_per_channel_and_one_recovery(outage_settings, chat_webhook, make_user,
                                                              confirm_badge):
    control = outage_settings.control
    control.set_faults(down="503")
    with run_syncs_eagerly(max_wait=0):  # no retries in this process: they stay queued, as for a worker's backoff
        for n in range(3):
            confirm_badge(make_user(email=f"person{n}@example.com"))
    state = CircuitBreaker(ac_account()[0]).state()
    assert (state["state"], state["reason"]) == ("open", "outage"), "the sandbox's 503s opened the breaker"

    for _ in range(6):
        alerts.evaluate()
    assert [m.subject for m in mail.outbox] == ["[Badge Maker] ALERT: Circuit breaker open"]
    assert "AC is not answering" in mail.outbox[0].body
    assert [text.splitlines()[0] for text in chat_webhook.texts()] == ["ALERT: Circuit breaker open"]

    control.set_faults(down=None)
    time.sleep(0.6)  # the breaker lets its probe through once per BREAKER_RESET_SECONDS
    waiting = SyncLog.objects.filter(status="queued").order_by("pk").first()
    with run_syncs_eagerly(max_wait=0):
        run_attempt(waiting.pk)
    waiting.refresh_from_db()
    assert waiting.status == "success" and not CircuitBreaker(ac_account()[0]).is_open()

    for _ in range(6):
        alerts.evaluate()
    assert [m.subject for m in mail.outbox] == ["[Badge Maker] ALERT: Circuit breaker open",
                                                "[Badge Maker] Resolved: Circuit breaker open"]
    assert [text.splitlines()[0] for text in chat_webhook.texts()] == ["ALERT: Circuit breaker open",
                                                                       "Resolved: Circuit breaker open"]
    assert Alert.objects.get().state == "resolved"


def test_a_refused_key_alerts_at_once(outage_settings, chat_webhook, make_user, confirm_badge, settings):
    settings.ACTIVECAMPAIGN_API_KEY = "not-the-key"
    with run_syncs_eagerly(max_wait=0):
        confirm_badge(make_user(email="refused@example.com"))
    alerts.evaluate()
    assert [m.subject for m in mail.outbox] == ["[Badge Maker] ALERT: Circuit breaker open"]
    assert "AC refused the API key" in mail.outbox[0].body
    assert "not-the-key" not in mail.outbox[0].body + chat_webhook.texts()[0]
