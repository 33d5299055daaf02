"""The whole way back, over real sockets: the sandbox posts AC's webhooks to
the receiver served by `live_server`, a real worker processes them against
the sandbox, and Badge Maker ends up where the attendee left AC."""
import datetime
import time

import pytest
import requests
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from badgemaker.badges.models import Badge
from crm_sync.connection import make_backend
from crm_sync.models import ConsentRecord, ContactState, InboxEvent, SyncLog
from tests.badge_pages import PASSWORD, confirm_through_web, fill_in_badge_page
from tests.factories import EventFactory
from tests.inbound.conftest import TOKEN
from tests.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
EMAIL = "ada@example.com"


@pytest.fixture
def receiver(worker, live_server, settings, ac_sandbox):
    """The receiver live, and crm_sync's webhook registered in the sandbox pointing at it
    (`crm_webhooks register`, as an operator would)."""
    settings.CRM_SYNC = {**settings.CRM_SYNC, "WEBHOOK_TOKENS": [TOKEN], "WEBHOOK_URL": "",
                         "PUBLIC_BASE_URL": live_server.url}
    call_command("crm_webhooks", "register")
    [webhook] = ac_sandbox.control.webhooks()
    assert "api" not in webhook["sources"]
    return worker


@pytest.fixture
def event():
    return EventFactory(name="PyCon Demo", slug="pycon-demo", starts_on="2027-01-15")


def synced(person_email, event, worker):
    """Confirm a badge through the web as the attendee; wait for the worker to subscribe them in the sandbox."""
    confirm_through_web(Client(), event, person_email)
    state = wait_for(lambda: ContactState.objects.filter(user__email=person_email, list_status=1).first(), timeout=30)
    assert state is not None, worker.output()[-4000:]
    # The sync's own subscribe comes back through the `admin` source: let it settle before the test starts.
    wait_for(lambda: not InboxEvent.objects.filter(outcome__in=["pending", "failed"]).exists(), timeout=20)
    return state


def settled(**lookup):
    """The inbox rows matching `lookup`, once none of them waits any more."""
    rows = InboxEvent.objects.filter(**lookup)
    return rows.exists() and not rows.filter(outcome__in=["pending", "failed"]).exists()


def opted_in(email):
    return ConsentRecord._meta.get_field("person").related_model.objects.get(email=email).crm_opt_in


def test_an_unsubscribe_in_ac_opts_the_person_out_within_5_seconds(receiver, ac_sandbox, event):
    synced(EMAIL, event, receiver)
    control = ac_sandbox.control

    wait_for(lambda: not SyncLog.objects.filter(status__in=["queued", "running"]).exists(), timeout=20)
    last_row = SyncLog.objects.order_by("-pk").first().pk
    clicked = time.monotonic()
    control.unsubscribe(EMAIL, reason="Too many emails")
    record = wait_for(lambda: ConsentRecord.objects.filter(person__email=EMAIL, source="crm_webhook").first(),
                      timeout=5, interval=0.05)
    took = time.monotonic() - clicked

    assert record is not None, f"no consent record after 5 s\n{receiver.output()[-4000:]}"
    assert (record.opted_in, record.source, record.reason) == (False, "crm_webhook", "Too many emails")
    assert opted_in(EMAIL) is False
    print(f"\nunsubscribe clicked to opted out in Badge Maker: {took:.2f}s")
    [delivery] = [record for record in control.webhook_deliveries()
                  if (record["type"], record["initiated_from"]) == ("unsubscribe", "public")]
    assert (delivery["outcome"], delivery["status"]) == ("delivered", 200)
    # AC's own word is not synced back: no "Badge or profile saved" row for it.
    assert wait_for(lambda: settled(event_type="unsubscribe", initiated_from="public"), timeout=10)
    assert not SyncLog.objects.filter(pk__gt=last_row).exists()

    # The next badge edit sends AC nothing.
    before = control.stats()["endpoints"]
    edit = Badge.objects.get(user__email=EMAIL)
    edit.badge_name = "Countess Ada of Lovelace"
    edit.save()
    log = wait_for(lambda: SyncLog.objects.filter(user__email=EMAIL, pk__gt=last_row).exclude(
        status__in=["queued", "running"]).first(), timeout=20)
    assert log is not None, receiver.output()[-4000:]
    assert (log.status, log.api_calls) == ("skipped", 0)
    assert log.error_message == "opt-in withdrawn; already unsubscribed, not updated"
    assert control.stats()["endpoints"] == before
    assert ConsentRecord.objects.filter(person__email=EMAIL, source="crm_webhook").count() == 1


def test_a_duplicated_delivery_gives_one_record(receiver, ac_sandbox, event):
    synced(EMAIL, event, receiver)
    control = ac_sandbox.control
    control.set_faults(webhook_duplicate=True)
    since = max([d["seq"] for d in control.webhook_deliveries()] or [0])

    control.unsubscribe(EMAIL)
    control.wait_for_deliveries(2, since=since)
    assert wait_for(lambda: settled(event_type="unsubscribe", initiated_from="public"), timeout=10)

    assert InboxEvent.objects.filter(event_type="unsubscribe", initiated_from="public").count() == 1
    assert ConsentRecord.objects.filter(person__email=EMAIL, source="crm_webhook").count() == 1
    assert opted_in(EMAIL) is False


def test_deliveries_out_of_order_end_on_the_newest_state(receiver, ac_sandbox, event):
    """Unsubscribed, subscribed again, unsubscribed again, one second apart; delivered newest first."""
    synced(EMAIL, event, receiver)
    control = ac_sandbox.control
    control.set_faults(webhook_reverse_order=True)

    changes = []
    for action in (control.unsubscribe, control.subscribe, control.unsubscribe):
        changes.append(action(EMAIL)["changes"][0]["date_time"])
        time.sleep(1.1)  # AC's date_time has whole seconds
    assert control.flush_webhooks() == 3
    assert wait_for(lambda: InboxEvent.objects.filter(initiated_from="public").count() == 3
                    and settled(initiated_from="public"), timeout=15), receiver.output()[-4000:]

    assert opted_in(EMAIL) is False
    [record] = ConsentRecord.objects.filter(person__email=EMAIL, source="crm_webhook")
    assert (record.opted_in, record.changed_at.isoformat()) == (False, _utc(changes[-1]))
    assert sorted(InboxEvent.objects.filter(initiated_from="public").values_list("outcome", flat=True)) == \
        ["applied", "ignored", "ignored"]


def test_our_own_withdrawal_echoed_back_adds_no_second_record(receiver, ac_sandbox, event):
    synced(EMAIL, event, receiver)
    client = Client()
    client.login(username=EMAIL, password=PASSWORD)

    fill_in_badge_page(client, event, EMAIL, opt_in=False)  # the attendee withdraws on the badge page
    # The sync unsubscribes them; AC echoes that change back as `initiated_from=admin` (its bug, §11.2).
    assert wait_for(lambda: settled(event_type="unsubscribe", initiated_from="admin"), timeout=20), \
        receiver.output()[-4000:]

    echo = InboxEvent.objects.get(event_type="unsubscribe", initiated_from="admin")
    assert echo.outcome == "ignored" and "echo" in echo.reason
    records = ConsentRecord.objects.filter(person__email=EMAIL).order_by("changed_at")
    # Opted in when confirming, out now: both on the badge page, and nothing from AC.
    assert [(record.source, record.opted_in) for record in records] == [("badge_page", True), ("badge_page", False)]
    assert opted_in(EMAIL) is False
    assert ac_sandbox.control.contact(EMAIL)["lists"] == {"badge-maker-attendees": 2}


def _utc(text):
    """AC's date_time (with its offset) as the UTC isoformat Django gives back."""
    return datetime.datetime.fromisoformat(text).astimezone(datetime.timezone.utc).isoformat()


def test_a_forged_unsubscribe_with_the_right_token_changes_nothing(receiver, ac_sandbox, event, live_server):
    """Someone who learnt the token posts an unsubscribe AC never sent: the
    worker asks AC, which still has the contact subscribed."""
    state = synced(EMAIL, event, receiver)
    forged = {"type": "unsubscribe", "date_time": timezone.now().isoformat(timespec="seconds"),
              "initiated_from": "public", "list": make_backend().list_id(),
              "contact[id]": state.ac_contact_id, "contact[email]": EMAIL}

    answer = requests.post(f"{live_server.url}/crm/webhooks/activecampaign/{TOKEN}/", data=forged, timeout=5)

    assert answer.status_code == 200
    assert wait_for(lambda: settled(event_type="unsubscribe", source="webhook"), timeout=10), receiver.output()[-4000:]
    row = InboxEvent.objects.get(event_type="unsubscribe", source="webhook")
    assert (row.outcome, row.reason) == ("ignored", "AC says the contact is still subscribed: forged or stale")
    assert opted_in(EMAIL) is True
    assert not ConsentRecord.objects.filter(person__email=EMAIL).exclude(source="badge_page").exists()
    assert ac_sandbox.control.contact(EMAIL)["lists"] == {"badge-maker-attendees": 1}
