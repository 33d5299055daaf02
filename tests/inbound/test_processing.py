"""What an event does once processed: every rule of docs/webhooks.md, with
the CRM's word on the contact's list status stubbed at the backend."""
import datetime

import pytest
from django.utils import timezone

from crm_sync import inbox, locks
from crm_sync.attempts import pause, unpause
from crm_sync.crm import SUBSCRIBED, UNSUBSCRIBED
from crm_sync.errors import ServerError
from crm_sync.models import ConsentRecord, ContactState, InboxEvent, SyncLog
from crm_sync.sync import Action, Reason
from crm_sync.testing import capture_syncs
from tests.inbound.conftest import ac_form, processed, receive, webhook_path

pytestmark = pytest.mark.django_db
MINUTE = datetime.timedelta(minutes=1)


def state_of(person):
    return ContactState.objects.get(user=person)


def records_of(person):
    return list(ConsentRecord.objects.filter(person=person).order_by("changed_at"))


# -- unsubscribe ---------------------------------------------------------------------------
def test_an_unsubscribe_ac_confirms_opts_the_person_out_with_a_record(ada, crm):
    crm.statuses["42"] = UNSUBSCRIBED
    when = timezone.now().replace(microsecond=0) - MINUTE

    event = processed(receive("unsubscribe", when=when, reason="Too many emails"))

    ada.refresh_from_db()
    assert ada.crm_opt_in is False
    [record] = records_of(ada)
    assert (record.opted_in, record.source, record.reason, record.changed_at, record.inbox_event) == \
        (False, "crm_webhook", "Too many emails", when, event)
    assert state_of(ada).list_status == UNSUBSCRIBED
    assert (event.outcome, event.person, event.attempts) == ("applied", ada, 1)
    assert "opted out" in event.reason and event.processed_at is not None
    assert crm.reads == ["42"]  # AC asked once


def test_an_unsubscribe_posted_by_ac_queues_no_sync_back(ada, crm, client):
    """AC holds the unsubscribe already: applying its word here writes no SyncLog row."""
    crm.statuses["42"] = UNSUBSCRIBED
    rows = SyncLog.objects.count()

    assert client.post(webhook_path(), ac_form("unsubscribe")).status_code == 200
    event = processed(InboxEvent.objects.get())

    ada.refresh_from_db()
    assert (event.outcome, ada.crm_opt_in) == ("applied", False)
    assert SyncLog.objects.count() == rows


def test_after_an_unsubscribe_the_next_badge_edit_sends_nothing(ada, crm):
    crm.statuses["42"] = UNSUBSCRIBED
    processed(receive("unsubscribe"))

    with capture_syncs() as syncs:
        badge = ada.badges.get()
        badge.badge_name = "Countess Ada"
        badge.save()

    plan = syncs.last(email="ada@example.com").plan
    assert (plan.action, plan.reason) == (Action.NOTHING, Reason.ALREADY_UNSUBSCRIBED)


def test_a_forged_unsubscribe_changes_nothing(ada, crm):
    crm.statuses["42"] = SUBSCRIBED  # AC says the contact is still subscribed

    event = processed(receive("unsubscribe"))

    ada.refresh_from_db()
    assert ada.crm_opt_in is True
    assert records_of(ada) == []
    assert state_of(ada).list_status == SUBSCRIBED
    assert (event.outcome, event.reason) == ("ignored", "AC says the contact is still subscribed: forged or stale")


def test_our_own_unsubscribe_echoed_back_adds_no_record(ada, crm):
    """Ada opted out on the badge page; the sync unsubscribed her; AC echoes it (the `admin` source bug)."""
    ada.crm_opt_in = False
    ada.save()
    ConsentRecord.objects.create(person=ada, opted_in=False, source="badge_page",
                                 changed_at=timezone.now() - MINUTE)
    ContactState.objects.filter(user=ada).update(list_status=UNSUBSCRIBED)
    crm.statuses["42"] = UNSUBSCRIBED

    event = processed(receive("unsubscribe", source="admin"))

    assert [record.source for record in records_of(ada)] == ["badge_page"]
    assert (event.outcome, event.reason) == ("ignored", inbox.Reason.ECHO)
    assert crm.reads == []  # nothing to ask AC


def test_an_unsubscribe_from_another_list_is_ignored(ada, crm):
    crm.statuses["42"] = UNSUBSCRIBED

    event = processed(receive("unsubscribe", list_id="99"))

    ada.refresh_from_db()
    assert ada.crm_opt_in is True
    assert (event.outcome, event.reason) == ("ignored", inbox.Reason.NOT_OUR_LIST)


def test_an_unsubscribe_for_a_contact_ac_deleted_is_ignored(ada, crm):
    crm.gone.add("42")

    event = processed(receive("unsubscribe"))

    assert (event.outcome, event.reason) == ("ignored", "AC no longer has this contact")


def test_an_unsubscribe_found_by_the_pull_names_the_pull(ada, crm):
    crm.statuses["42"] = UNSUBSCRIBED

    processed(receive("unsubscribe", source="", inbox_source=InboxEvent.Source.PULL))

    assert [record.source for record in records_of(ada)] == ["crm_pull"]


def test_a_person_matched_by_email_when_crm_sync_holds_no_contact_id(make_user, confirm_badge, crm):
    grace = make_user(email="Grace@Example.com")
    confirm_badge(grace)
    crm.statuses["77"] = UNSUBSCRIBED

    event = processed(receive("unsubscribe", contact_id="77", email="grace@example.com"))

    grace.refresh_from_db()
    assert (event.outcome, event.person, grace.crm_opt_in) == ("applied", grace, False)
    assert (state_of(grace).ac_contact_id, state_of(grace).list_status) == ("77", UNSUBSCRIBED)


def test_an_event_about_no_one_here_is_ignored(webhook_settings, crm, db):
    event = processed(receive("unsubscribe", contact_id="555", email="stranger@example.com"))

    assert (event.outcome, event.reason) == ("ignored", "no person in Badge Maker has this contact/email")
    assert event.processed_at is not None
    assert crm.reads == []


# -- subscribe ------------------------------------------------------------------------------
@pytest.fixture
def opted_out(ada, crm):
    """Ada unsubscribed through AC's link a while ago."""
    crm.statuses["42"] = UNSUBSCRIBED
    processed(receive("unsubscribe", when=timezone.now().replace(microsecond=0) - 10 * MINUTE))
    crm.reads.clear()
    ada.refresh_from_db()
    return ada


def test_a_subscribe_by_the_contact_opts_them_in_again(opted_out, crm):
    crm.statuses["42"] = SUBSCRIBED

    with capture_syncs() as syncs:
        event = processed(receive("subscribe", source="public"))

    opted_out.refresh_from_db()
    assert opted_out.crm_opt_in is True
    assert [(record.opted_in, record.source) for record in records_of(opted_out)] == \
        [(False, "crm_webhook"), (True, "crm_webhook")]
    assert state_of(opted_out).list_status == SUBSCRIBED
    assert event.outcome == "applied"
    # The contact was not updated while opted out: the sync now brings it up to date, without a resubscribe.
    plan = syncs.last(email="ada@example.com").plan
    assert plan.action == Action.SEND and not plan.resubscribe


@pytest.mark.parametrize("source", ["admin", "system", "api", ""])
def test_a_subscribe_by_anyone_else_is_only_recorded(opted_out, crm, source):
    crm.statuses["42"] = SUBSCRIBED

    event = processed(receive("subscribe", source=source))

    opted_out.refresh_from_db()
    assert opted_out.crm_opt_in is False
    assert len(records_of(opted_out)) == 1
    assert event.outcome == "ignored"
    assert event.reason.startswith("recorded only: an admin or automation cannot consent for the attendee")
    assert crm.reads == []


def test_a_subscribe_ac_does_not_confirm_changes_nothing(opted_out, crm):
    event = processed(receive("subscribe", source="public"))  # AC still says unsubscribed

    opted_out.refresh_from_db()
    assert opted_out.crm_opt_in is False
    assert (event.outcome, event.reason) == ("ignored", "AC says the contact is not subscribed: forged or stale")


# -- order ------------------------------------------------------------------------------------
def test_a_late_unsubscribe_cannot_undo_a_fresher_opt_in(ada, crm):
    """Ada opted in again on the badge page after an unsubscribe whose webhook arrives only now."""
    ConsentRecord.objects.create(person=ada, opted_in=True, source="badge_page", changed_at=timezone.now())
    crm.statuses["42"] = UNSUBSCRIBED  # the sync has not resubscribed her yet

    event = processed(receive("unsubscribe", when=timezone.now() - 5 * MINUTE))

    ada.refresh_from_db()
    assert ada.crm_opt_in is True
    assert (event.outcome, event.reason) == ("ignored", "older than the person's latest consent change")
    assert len(records_of(ada)) == 1


def test_events_in_reverse_order_end_on_the_newest(ada, crm):
    """Unsubscribed, subscribed again, unsubscribed again: delivered newest first."""
    now = timezone.now().replace(microsecond=0)
    first = receive("unsubscribe", when=now - 3 * MINUTE)
    second = receive("subscribe", when=now - 2 * MINUTE)
    third = receive("unsubscribe", when=now - MINUTE)
    crm.statuses["42"] = UNSUBSCRIBED  # AC's state now: the newest change

    outcomes = [processed(event).outcome for event in (third, second, first)]

    ada.refresh_from_db()
    assert ada.crm_opt_in is False
    assert outcomes == ["applied", "ignored", "ignored"]
    assert [(record.opted_in, record.changed_at) for record in records_of(ada)] == [(False, now - MINUTE)]


# -- other events ------------------------------------------------------------------------------
def test_an_event_crm_sync_does_not_act_on_is_ignored_with_its_name(ada, crm):
    event = processed(receive("update"))

    assert (event.outcome, event.reason) == ("ignored", "not an event crm_sync acts on (update)")


def test_a_row_already_processed_is_not_processed_again(ada, crm):
    crm.statuses["42"] = UNSUBSCRIBED
    event = processed(receive("unsubscribe"))

    inbox.run(event.pk)  # a duplicate message for the same row

    assert crm.reads == ["42"]
    assert len(records_of(ada)) == 1


# -- failures ------------------------------------------------------------------------------
def test_a_crm_error_fails_the_row_and_it_is_tried_again_with_backoff(ada, crm, settings):
    crm.error = ServerError("AC answered 503", status=503)
    event = receive("unsubscribe")

    countdown = inbox.run(event.pk)

    event.refresh_from_db()
    assert (event.outcome, event.attempts) == ("failed", 1)
    assert "503" in event.reason and event.processed_at is not None
    assert 0 < countdown <= settings.CRM_SYNC.get("RETRY_BACKOFF_BASE", 2.0)
    crm.error, crm.statuses["42"] = None, UNSUBSCRIBED

    assert inbox.run(event.pk) is None
    event.refresh_from_db()
    assert (event.outcome, event.attempts) == ("applied", 2)


def test_retries_stop_after_max_attempts_and_say_so(ada, crm, settings, caplog):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "MAX_ATTEMPTS": 2}
    crm.error = ServerError("AC answered 503", status=503)
    event = receive("unsubscribe")

    assert inbox.run(event.pk) is not None
    assert inbox.run(event.pk) is None
    event.refresh_from_db()
    assert (event.outcome, event.attempts) == ("failed", 2)
    assert f'"event": "inbox_retries_exhausted", "inbox_event": {event.pk}' in caplog.text


def test_a_busy_person_waits_without_spending_an_attempt(ada, crm):
    token = locks.lock_person(ada.pk)
    event = receive("unsubscribe")
    try:
        countdown = inbox.run(event.pk)
    finally:
        locks.release_person(ada.pk, token)

    event.refresh_from_db()
    assert countdown == inbox.PERSON_BUSY_WAIT
    assert (event.outcome, event.attempts) == ("pending", 0)


# -- the sweep --------------------------------------------------------------------------------
@pytest.fixture
def dispatched():
    handed = []
    with inbox.handoff(lambda event_id, countdown=None: handed.append(event_id) or True):
        yield handed


def test_the_sweep_sends_rows_the_broker_never_took(ada, crm, dispatched, settings):
    stranded = receive("unsubscribe")
    fresh = receive("bounce")
    InboxEvent.objects.filter(pk=stranded.pk).update(received_at=timezone.now() - 5 * MINUTE)

    assert inbox.sweep() == 1
    assert dispatched == [stranded.pk]  # the fresh row is still on its way through the broker


def test_the_sweep_tries_failed_rows_again_once_their_backoff_ran_out(ada, crm, dispatched):
    crm.error = ServerError("AC answered 503", status=503)
    due, waiting = receive("unsubscribe"), receive("bounce")
    inbox.run(due.pk)
    InboxEvent.objects.filter(pk=due.pk).update(processed_at=timezone.now() - 10 * MINUTE)
    InboxEvent.objects.filter(pk=waiting.pk).update(outcome="failed", attempts=3, processed_at=timezone.now(),
                                                    received_at=timezone.now())

    inbox.sweep()

    assert dispatched == [due.pk]


def test_the_sweep_waits_while_sending_is_paused(ada, crm, dispatched):
    stranded = receive("unsubscribe")
    InboxEvent.objects.filter(pk=stranded.pk).update(received_at=timezone.now() - 5 * MINUTE)
    pause("maintenance")
    try:
        assert inbox.sweep() == 0
        assert inbox.run(stranded.pk) is None
    finally:
        unpause()
    stranded.refresh_from_db()
    assert stranded.outcome == "pending"
