"""The safety net under the webhooks, against the AC sandbox over sockets: an
unsubscribe whose webhook was dropped comes in with the next pull and opts
the person out, with a consent record naming the pull; the pull's mark
survives (a second pull hands nothing new over); crm_sync's own syncs are
not news; a subscribe the pull finds is only recorded."""
import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm_sync import inbox, tasks
from crm_sync.attempts import run_attempt
from crm_sync.conf import ac_account
from crm_sync.models import ConsentRecord, ContactState, InboxEvent, SharedState, SyncLog
from crm_sync.pull import pull, state_name

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(sandbox_settings, make_user, confirm_badge):
    """Ada, opted in, her badge confirmed and synced: a subscribed contact in the sandbox."""
    ada = make_user(email="ada@example.com")
    confirm_badge(ada)
    run_attempt(SyncLog.objects.get(user=ada, status="queued").pk)
    assert ContactState.objects.get(user=ada).list_status == 1
    return ada


def process_pulled():
    """What the inbox's task would do for each row the pull handed over."""
    for event_id in InboxEvent.objects.filter(source="pull", outcome="pending").values_list("pk", flat=True):
        inbox.run(event_id)


def test_an_unsubscribe_whose_webhook_was_dropped_comes_in_with_the_pull(sandbox_settings, subscribed):
    sandbox_settings.control.set_faults(webhook_drop=True)
    sandbox_settings.control.unsubscribe("ada@example.com", reason="Too many emails")

    pulled = pull()
    process_pulled()

    assert pulled.received == {"unsubscribe": 1} and pulled.emails == ["ada@example.com"]
    event = InboxEvent.objects.get(source="pull")
    contact_id = ContactState.objects.get(user=subscribed).ac_contact_id
    assert (event.event_type, event.contact_id, event.initiated_from) == ("unsubscribe", contact_id, "")
    assert event.outcome == "applied", event.reason
    subscribed.refresh_from_db()
    assert subscribed.crm_opt_in is False
    (record,) = ConsentRecord.objects.filter(person=subscribed)
    assert (record.opted_in, record.source, record.inbox_event) == (False, "crm_pull", event)


def test_the_pulls_mark_survives_and_a_second_pull_hands_nothing_new_over(sandbox_settings, subscribed):
    sandbox_settings.control.set_faults(webhook_drop=True)
    sandbox_settings.control.unsubscribe("ada@example.com")
    first = pull()
    process_pulled()

    # The mark is in the database: a restarted process reads it back.
    mark = SharedState.objects.get(name=state_name(ac_account()[0])).data["until"]
    assert datetime.datetime.fromisoformat(mark) == first.until
    second = pull()

    assert second.since == first.until - datetime.timedelta(minutes=2)
    assert second.received == {} and InboxEvent.objects.filter(source="pull").count() == 1
    assert ConsentRecord.objects.filter(person=subscribed).count() == 1


def test_the_first_pull_starts_one_interval_back_and_does_not_import_history(sandbox_settings, subscribed):
    sandbox_settings.control.unsubscribe("ada@example.com")
    later = timezone.now() + datetime.timedelta(hours=1)

    pulled = pull(now=later)

    assert pulled.since == later - datetime.timedelta(seconds=300) - datetime.timedelta(minutes=2)
    assert pulled.found == {} and not InboxEvent.objects.exists()


def test_crm_syncs_own_subscribes_are_not_news(sandbox_settings, subscribed, make_user, confirm_badge):
    grace = make_user(email="grace@example.com")
    confirm_badge(grace)
    run_attempt(SyncLog.objects.get(user=grace, status="queued").pk)

    pulled = pull()

    assert pulled.found == {"subscribe": 2} and pulled.not_news == 2
    assert not InboxEvent.objects.exists()


def test_a_subscribe_the_pull_finds_is_only_recorded_it_never_opts_anyone_in(sandbox_settings, subscribed):
    sandbox_settings.control.set_faults(webhook_drop=True)
    sandbox_settings.control.unsubscribe("ada@example.com")
    pull(now=timezone.now() - datetime.timedelta(seconds=1))
    process_pulled()
    sandbox_settings.control.subscribe("ada@example.com")

    pulled = pull()
    process_pulled()

    assert pulled.received == {"subscribe": 1}
    event = InboxEvent.objects.get(source="pull", event_type="subscribe")
    assert event.outcome == "ignored" and "recorded only" in event.reason
    subscribed.refresh_from_db()
    assert subscribed.crm_opt_in is False


def test_the_beat_task_pulls_and_a_stopped_pull_keeps_its_mark(sandbox_settings, subscribed, caplog):
    sandbox_settings.control.unsubscribe("ada@example.com")
    tasks.pull_consent()
    assert InboxEvent.objects.filter(source="pull", event_type="unsubscribe").count() == 1
    mark = SharedState.objects.get(name=state_name(ac_account()[0])).data

    sandbox_settings.control.set_faults(error_rate=1.0)
    tasks.pull_consent()

    assert SharedState.objects.get(name=state_name(ac_account()[0])).data == mark
    assert "consent_pull_stopped" in caplog.text


def test_the_command_prints_counts_and_no_address_unless_asked(sandbox_settings, subscribed):
    sandbox_settings.control.unsubscribe("ada@example.com")
    out = StringIO()

    call_command("crm_consent_pull", stdout=out)

    assert "Found 1 unsubscribe and 0 subscribes." in out.getvalue()
    assert "handed to the inbox: 1 unsubscribe, 0 subscribe" in out.getvalue()
    assert "ada@example.com" not in out.getvalue()
    verbose = StringIO()
    SharedState.objects.all().delete()
    InboxEvent.objects.all().delete()
    call_command("crm_consent_pull", verbosity=2, stdout=verbose)
    assert "ada@example.com" in verbose.getvalue()
