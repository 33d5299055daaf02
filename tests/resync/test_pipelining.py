"""Batches in flight: the bulk path keeps sending while the CRM imports the
batches before, and still ends every person right. A CRM that is not AC,
whose importer takes a few polls per batch, and no HTTP."""
import pytest

from crm_sync import importer
from crm_sync.crm import BulkLimits, ImportReport
from crm_sync.mapping import ContactPayload
from crm_sync.models import ContactState, SyncLog

pytestmark = pytest.mark.django_db


class SlowCrm:
    """A CRM's bulk half whose importer needs `polls_to_finish` polls per
    batch. It fails the emails in `failed` at import time and ends the
    batches in `aborted` as 'failed'. `events` is what it was asked, in order."""

    name = "Other"

    def __init__(self, limits, *, polls_to_finish=2, failed=(), aborted=()):
        self.bulk_limits = limits
        self.polls_to_finish = polls_to_finish
        self.failed = set(failed)
        self.aborted = set(aborted)
        self.batches = {}
        self.polls = {}
        self.events = []

    def bulk_row(self, payload, *, exclude_automations):
        return {"who": payload.email}

    def bulk_row_size(self, row):
        return 1

    def bulk_fits(self, rows_size, count):
        return True

    def bulk_import(self, rows):
        batch_id = f"b{len(self.batches) + 1}"
        self.batches[batch_id] = [row["who"] for row in rows]
        self.polls[batch_id] = 0
        self.events.append(f"send {batch_id}")
        return batch_id

    def import_report(self, batch_id):
        self.polls[batch_id] += 1
        if self.polls[batch_id] < self.polls_to_finish:
            self.events.append(f"poll {batch_id}: active")
            return ImportReport(finished=False, status="active")
        self.events.append(f"poll {batch_id}: done")
        if batch_id in self.aborted:
            return ImportReport(finished=True, status="failed", aborted=True)
        return ImportReport(finished=True, status="completed",
                            failed_emails=frozenset(self.failed & set(self.batches[batch_id])))

    def bulk_request_record(self, row):
        return {"method": "POST", "path": "/bulk", "body": row, "status": None, "response": ""}

    def import_report_record(self, batch_id, report):
        return {"method": "GET", "path": f"/bulk/{batch_id}", "body": None, "status": 200, "response": report.status}


@pytest.fixture
def quick(monkeypatch, settings):
    """Polls due at once; the account's rate (a slot every 2 s) keeps the
    sender from polling between two people of a batch, so the order of
    events depends on the sender's rules alone."""
    monkeypatch.setattr(importer, "POLL_FIRST", 0.0)
    monkeypatch.setattr(importer, "POLL_EVERY", 0.0)
    settings.CRM_SYNC = {**settings.CRM_SYNC, "RATE_LIMIT_PER_SECOND": 0.5}


def send_everyone(crm, people):
    """Each person through a BulkSender, as the resync does; the Tally."""
    sender = importer.BulkSender(crm, "https://other.example", importer.Tally())
    for user in people:
        payload = ContactPayload(email=user.email, tags=["badge-maker"])
        sender.add(sender.person(user.pk, None, payload, exclude_automations=True))
    sender.flush()
    sender.poll(block=True)
    return sender.tally


def test_later_batches_go_while_earlier_ones_import_and_every_person_ends_as_their_batch_did(attendee, quick):
    people = [attendee(email=f"p{n}@example.com") for n in range(12)]
    crm = SlowCrm(BulkLimits(max_rows=3, multi_row_requests=100, single_row_requests=100),
                  failed={"p7@example.com"}, aborted={"b2"})

    tally = send_everyone(crm, people)

    # All four were queued before the first finished importing.
    assert crm.events.index("send b4") < crm.events.index("poll b1: done")
    rows = {row.email: row for row in SyncLog.objects.all()}
    assert [rows[f"p{n}@example.com"].batch_id for n in range(12)] == ["b1"] * 3 + ["b2"] * 3 + ["b3"] * 3 + ["b4"] * 3
    aborted = [rows[f"p{n}@example.com"] for n in (3, 4, 5)]
    assert {(row.status, row.error_category) for row in aborted} == {("failed", "import_failed")}
    assert rows["p7@example.com"].status == "failed" and rows["p7@example.com"].error_category == "validation"
    succeeded = {email for email, row in rows.items() if row.status == "success"}
    assert succeeded == {f"p{n}@example.com" for n in (0, 1, 2, 6, 8, 9, 10, 11)}
    assert all(rows[email].requests[-1]["path"] == f"/bulk/{rows[email].batch_id}" for email in succeeded)
    states = {state.user.email: state for state in ContactState.objects.select_related("user")}
    assert set(states) == succeeded
    assert all(state.list_status == 1 and state.tags == ["badge-maker"] and state.tags_known
               and state.sent["email"] == email for email, state in states.items())
    assert (tally.sent, tally.succeeded, len(tally.failed), tally.batches) == (12, 8, 4, 4)


def test_while_the_importers_own_budget_is_spent_the_batches_in_flight_are_polled(attendee, quick):
    people = [attendee() for _ in range(9)]
    crm = SlowCrm(BulkLimits(max_rows=3, multi_row_requests=2, single_row_requests=2, window=0.3),
                  polls_to_finish=1)

    tally = send_everyone(crm, people)

    assert crm.events == ["send b1", "send b2", "poll b1: done", "poll b2: done", "send b3", "poll b3: done"]
    assert tally.succeeded == 9 and not SyncLog.objects.exclude(status="success").exists()


def test_only_the_oldest_batch_is_polled(attendee, quick):
    people = [attendee() for _ in range(9)]
    crm = SlowCrm(BulkLimits(max_rows=3, multi_row_requests=100, single_row_requests=100), polls_to_finish=3)

    send_everyone(crm, people)

    polls = [event for event in crm.events if event.startswith("poll")]
    assert polls == ["poll b1: active", "poll b1: active", "poll b1: done",
                     "poll b2: active", "poll b2: active", "poll b2: done",
                     "poll b3: active", "poll b3: active", "poll b3: done"]


def test_the_first_poll_of_a_batch_comes_when_the_batches_before_took_to_import(monkeypatch):
    monkeypatch.setattr(importer, "POLL_FIRST", 1.0)
    monkeypatch.setattr(importer, "POLL_EVERY", 2.0)
    sender = importer.BulkSender(SlowCrm(BulkLimits(max_rows=3, multi_row_requests=100, single_row_requests=100)),
                                 "https://other.example", importer.Tally())

    def seen_done(sent_at, done_at, importing_at=0.0):
        batch = importer.Batch("b", 3, deadline=0.0, next_poll_at=0.0, polls=1, sent_at=sent_at,
                               importing_at=importing_at)
        sender._learn_import_time(batch, done_at)
        return sender.first_poll

    assert sender.first_poll == 1.0
    # Importing at 5 s, imported at 7 s: the next batch is first asked about 7 s after it is sent.
    assert seen_done(100.0, 107.0, importing_at=105.0) == 7.0
    # A poll that came late (the sender was busy) teaches no longer a time than polls on time would have.
    assert seen_done(200.0, 230.0, importing_at=204.0) == 6.0
    # Imported by its first poll: the next is asked a little sooner, never sooner than POLL_FIRST.
    assert seen_done(300.0, 306.5) == pytest.approx(5.4)
    assert seen_done(400.0, 400.2) == 1.0
    # A batch of an earlier run (no time sent) teaches nothing.
    assert seen_done(0.0, 50.0, importing_at=48.0) == 1.0
