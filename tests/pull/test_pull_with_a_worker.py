"""End to end with a real worker and beat: with the webhook's delivery
dropped, beat's consent pull brings an unsubscribe clicked in the sandbox
into Badge Maker within one pull interval (plus the time to process it)."""
import secrets
import time
from io import StringIO

import pytest
from django.core.management import call_command

from crm_sync.models import ConsentRecord, ContactState, InboxEvent
from tests.factories import BadgeFactory, UserFactory
from tests.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PULL_INTERVAL = 3


@pytest.fixture
def worker_settings():
    return {"CRM_SYNC_PULL_INTERVAL": PULL_INTERVAL}


def test_with_the_webhook_dropped_the_pull_brings_the_unsubscribe_in_within_one_interval(worker, ac_sandbox,
                                                                                         settings):
    control = ac_sandbox.control
    # The webhook is registered (to a receiver nobody serves here): its delivery is the one dropped.
    settings.CRM_SYNC = {**settings.CRM_SYNC, "WEBHOOK_TOKENS": [secrets.token_urlsafe(32)],
                         "WEBHOOK_URL": "http://127.0.0.1:9/crm/hooks/"}
    call_command("crm_webhooks", "register", stdout=StringIO())
    ada = UserFactory(email="ada@example.com")
    BadgeFactory(user=ada, confirmed=True)
    assert wait_for(lambda: ContactState.objects.filter(user=ada, list_status=1).exists(), timeout=60), \
        worker.output()[-4000:]
    control.set_faults(webhook_drop=True)

    control.unsubscribe("ada@example.com", reason="Too many emails")
    clicked = time.monotonic()

    def opted_out():
        ada.refresh_from_db()
        return not ada.crm_opt_in

    assert wait_for(opted_out, timeout=PULL_INTERVAL + 20), worker.output()[-4000:]
    took = time.monotonic() - clicked
    assert [d["outcome"] for d in control.webhook_deliveries() if d["type"] == "unsubscribe"] == ["dropped"]
    (record,) = ConsentRecord.objects.filter(person=ada)
    assert (record.opted_in, record.source) == (False, "crm_pull")
    assert InboxEvent.objects.get(pk=record.inbox_event_id).source == "pull"
    print(f"\nunsubscribe clicked to opted out through the pull: {took:.1f}s (interval {PULL_INTERVAL}s)")
    assert took < PULL_INTERVAL + 10
