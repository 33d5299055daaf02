"""The burst switch (crm_sync/burst.py), run in this process against the AC
sandbox over sockets: the worker's decision, the drain and the poll called
as their tasks would call them, every dispatch captured."""
import time

import pytest
from django.conf import settings
from django.utils import timezone

from crm_sync import burst, outbox
from crm_sync.models import ContactState, ImportBatch, SyncLog
from tests.resync.conftest import ac, attendee, event  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(ac, settings, monkeypatch):  # noqa: F811
    """The switch on, decisions taken at AC's real rate; dispatches recorded, not sent."""
    settings.CRM_SYNC = {**settings.CRM_SYNC, "BURST_SWITCH": True, "RATE_LIMIT_PER_SECOND": 5.0,
                         "BURST_COLLECT_SECONDS": 0.0, "BURST_IMPORT_SECONDS": 30.0}
    sent = {"sync": [], "drain": 0, "poll": 0}
    monkeypatch.setattr(burst.drain_publisher, "run_instead", lambda _id, countdown=None: sent.__setitem__(
        "drain", sent["drain"] + 1) or True)
    monkeypatch.setattr(burst.poll_publisher, "run_instead", lambda _id, countdown=None: sent.__setitem__(
        "poll", sent["poll"] + 1) or True)
    with outbox.handoff(lambda log_id, countdown=None: sent["sync"].append(log_id) or True):
        yield sent


def queued_rows(people):
    return [outbox.open_attempt(person.pk) for person in people]


def measured_imports(seconds, count=3):
    """The account's last imports took `seconds` each."""
    now = timezone.now()
    for n in range(count):
        ImportBatch.objects.create(batch_id=f"old-{n}", account_url=settings.ACTIVECAMPAIGN_URL, lane="burst", size=250,
                                   status="completed", queued_at=now - timezone.timedelta(seconds=seconds),
                                   completed_at=now)


def finish_imports(ac_sandbox, timeout=10):
    deadline = time.monotonic() + timeout
    while ImportBatch.objects.filter(status="in_flight").exists() and time.monotonic() < deadline:
        burst.poll()
        time.sleep(0.1)


def test_a_burst_of_new_people_goes_through_the_importer_with_the_live_syncs_rules(switch, ac, attendee):  # noqa: F811
    people = [attendee(badge_name=f"Burst {n}", dietary_preferences=["vegan"]) for n in range(40)]
    people.append(attendee(opt_in=False))
    rows = queued_rows(people)

    handed = [burst.hand_over(row.pk) for row in rows]
    assert all(handed), "40 new people at 5 requests a second take longer one by one than a 30 s import"
    decision = burst.latest_decision()
    assert decision["bulk"] and decision["backlog"] == 41 and decision["imports_measured"] == 0
    assert switch["drain"] >= 1, "a drain was asked for"

    burst.drain("drain-1")
    # The person who did not opt in has nothing to send in bulk: back to the per-person path.
    opted_out = SyncLog.objects.get(user=people[-1])
    assert (opted_out.status, opted_out.lane) == ("queued", "single")
    assert switch["sync"] == [opted_out.pk]
    assert burst.hand_over(opted_out.pk) is False

    in_batch = SyncLog.objects.filter(lane="bulk")
    assert in_batch.count() == 40 and set(in_batch.values_list("status", flat=True)) == {"running"}
    batch = ImportBatch.objects.get(status="in_flight")
    assert (batch.lane, batch.size) == ("burst", 40)
    assert set(in_batch.values_list("batch_id", flat=True)) == {batch.batch_id}

    finish_imports(ac)
    for row in SyncLog.objects.filter(lane="bulk"):
        assert (row.status, row.attempt, row.batch_id) == ("success", 1, batch.batch_id), row.error_message
    contacts = {contact["email"]: contact for contact in ac.control.contacts()}
    assert sorted(contacts) == sorted(person.email.lower() for person in people[:-1])  # one each
    contact = contacts[people[3].email.lower()]
    assert contact["fields"]["BADGE_NAME"] == "Burst 3"
    assert contact["fields"]["DIETARY_PREFERENCES"] == "||vegan||"   # the option value the account holds
    assert sorted(contact["tags"]) == ["badge-maker", "event:pycon-2026"]
    assert contact["lists"] == {"badge-maker-attendees": 1}
    assert ImportBatch.objects.get(pk=batch.pk).import_seconds > 0
    state = ContactState.objects.get(user=people[3])
    assert state.sent["fields"]["BADGE_NAME"] == "Burst 3" and state.ac_contact_id == ""  # looked up when needed


def test_a_burst_stays_in_bulk_while_its_batch_imports(switch, ac, attendee):  # noqa: F811
    """Right after a drain the queue is empty; the people still importing
    are still waiting, so the next arrivals join the next batch instead of
    spending the account's rate one by one."""
    measured_imports(20, count=4)
    rows = queued_rows([attendee() for _ in range(40)])
    assert all(burst.hand_over(row.pk) for row in rows)
    burst.drain("drain-1")
    assert not SyncLog.objects.filter(status="queued").exists()

    late = queued_rows([attendee()])[0]
    assert burst.hand_over(late.pk)
    assert burst.latest_decision()["backlog"] == 41

    finish_imports(ac)
    after = queued_rows([attendee()])[0]
    assert not burst.hand_over(after.pk), "with the batch imported, two people are a trickle"
    assert burst.latest_decision()["backlog"] == 2


def test_a_small_backlog_stays_per_person_when_imports_are_slow(switch, attendee):  # noqa: F811
    measured_imports(60)
    rows = queued_rows([attendee() for _ in range(20)])
    assert not burst.hand_over(rows[0].pk), "20 people take ~18 s one by one, an import 60 s"
    decision = burst.latest_decision()
    assert (decision["bulk"], decision["imports_measured"]) == (False, 3)
    assert decision["bulk_seconds"] == 60.0


def test_the_same_backlog_goes_in_bulk_when_imports_are_quick(switch, attendee):  # noqa: F811
    measured_imports(5)
    rows = queued_rows([attendee() for _ in range(20)])
    assert burst.hand_over(rows[0].pk)
    assert burst.latest_decision()["bulk_seconds"] == 5.0


def test_known_contacts_retries_and_staff_retries_stay_per_person(switch, ac, attendee):  # noqa: F811
    measured_imports(1)
    known, retried, by_staff = attendee(), attendee(), attendee()
    ContactState.objects.create(user=known, account_url=ac.url, sent={"email": known.email})
    queued_rows([attendee() for _ in range(30)])  # the backlog that would switch
    rows = [outbox.open_attempt(known.pk),
            SyncLog.objects.create(user=retried, attempt=2),
            outbox.open_attempt(by_staff.pk, trigger=SyncLog.Trigger.ADMIN)]
    assert [burst.hand_over(row.pk) for row in rows] == [False, False, False]


def test_the_switch_off_sends_everyone_per_person(switch, settings, attendee):  # noqa: F811
    settings.CRM_SYNC = {**settings.CRM_SYNC, "BURST_SWITCH": False}
    rows = queued_rows([attendee() for _ in range(50)])
    assert not burst.hand_over(rows[0].pk)


def test_a_person_the_importer_fails_is_tried_again_per_person(switch, ac, attendee):  # noqa: F811
    people = [attendee() for _ in range(40)]
    ac.control.set_faults(bulk_fail_emails=[people[5].email.lower()])
    for row in queued_rows(people):
        burst.hand_over(row.pk)
    burst.drain("drain-2")
    finish_imports(ac)
    failed = SyncLog.objects.get(user=people[5], attempt=1)
    assert (failed.status, failed.error_category) == ("failed", "validation")
    retry = SyncLog.objects.get(user=people[5], attempt=2)
    assert (retry.status, retry.lane) == ("queued", "")
    assert retry.pk in switch["sync"], "the next attempt was dispatched"
    assert not burst.hand_over(retry.pk), "a retry takes the per-person path, which gets AC's reason"
    assert SyncLog.objects.filter(status="success").count() == 39


def test_rows_in_an_open_batch_are_not_taken_for_lost_when_their_worker_died(switch, ac, settings, attendee):  # noqa: F811
    """A worker killed after the CRM queued its batch: the sweep must not
    send those people again; the poll finishes them."""
    settings.CRM_SYNC = {**settings.CRM_SYNC, "RUNNING_TIMEOUT": 0.0}
    for row in queued_rows([attendee() for _ in range(40)]):
        burst.hand_over(row.pk)
    burst.drain("killed")
    assert not SyncLog.objects.lost().exists()
    outbox.sweep()
    assert SyncLog.objects.filter(status="running").count() == 40
    finish_imports(ac)
    assert SyncLog.objects.filter(status="success").count() == 40
    assert SyncLog.objects.count() == 40, "no one sent again"


def test_only_a_few_new_people_are_synced_one_by_one_at_once(switch, settings, attendee):  # noqa: F811
    """The workers left free serve the edits of people already in AC."""
    measured_imports(60)
    first, second, third = queued_rows([attendee() for _ in range(3)])
    assert not burst.hand_over(first.pk) and not burst.hand_over(second.pk)
    SyncLog.objects.filter(pk__in=[first.pk, second.pk]).update(status="running")
    assert burst.hand_over(third.pk), "a third new person waits for a slot"
    third.refresh_from_db()
    assert (third.status, third.lane) == ("queued", "")
    assert third.error_message.startswith("waiting: 2 new people")
    assert switch["sync"] == [third.pk], "and looks again shortly"
    SyncLog.objects.filter(pk=first.pk).update(status="success")
    assert not burst.hand_over(third.pk)
    assert SyncLog.objects.get(pk=third.pk).lane == "single"


def test_a_poll_is_scheduled_once_for_when_the_oldest_batch_should_have_imported(switch, attendee, monkeypatch):  # noqa: F811
    """Polls spend the account's rate that edits wait for: one message, due
    when the account's recent imports say the batch is done."""
    polls = []
    monkeypatch.setattr(burst.poll_publisher, "run_instead", lambda _id, countdown=None: polls.append(countdown))
    measured_imports(20)
    for drain_id in ("drain-1", "drain-2"):
        rows = queued_rows([attendee() for _ in range(40)])
        assert all(burst.hand_over(row.pk) for row in rows)
        burst.drain(drain_id)
    assert ImportBatch.objects.filter(status="in_flight").count() == 2
    assert len(polls) == 1, "the second drain's batch is polled after the first's"
    assert 16 < polls[0] <= 18, "2 s before the recent imports' 20 s"


def test_before_any_import_is_measured_the_first_poll_comes_soon(switch, attendee, monkeypatch):  # noqa: F811
    """BURST_IMPORT_SECONDS (30 s here) is a guess for the decision, not a reason to wait for a quick importer."""
    polls = []
    monkeypatch.setattr(burst.poll_publisher, "run_instead", lambda _id, countdown=None: polls.append(countdown))
    rows = queued_rows([attendee() for _ in range(40)])
    assert all(burst.hand_over(row.pk) for row in rows)
    burst.drain("drain-1")
    assert len(polls) == 1 and polls[0] <= burst.POLL_EVERY
