"""Batches AC's importer does not complete: `failed` and `interrupted` are
final (docs/activecampaign.md §7, §11), so their rows fail with a reason that
says so, nothing stays `running`, beat stops polling them, and the next
resync brings every one of those people into AC. A batch that never
finishes is closed after its deadline."""
import pytest

from crm_sync import importer
from crm_sync.models import SyncLog

from .conftest import endpoint_count, resync, since

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("outcome", ["failed", "interrupted"])
def test_a_batch_ac_ends_unfinished_fails_its_rows_and_the_next_run_sends_them_again(ac, attendee, outcome):
    people = [attendee() for _ in range(12)]
    ac.control.set_faults(bulk_outcome=outcome)

    code, out, _ = resync(*since())

    assert code == 1, out
    rows = SyncLog.objects.all()
    assert rows.count() == 12 and not rows.filter(status=SyncLog.Status.RUNNING).exists()
    assert {(row.status, row.error_category) for row in rows} == {("failed", "import_failed")}
    assert all(f"as '{outcome}'" in row.error_message for row in rows)
    assert "still importing" not in out and "failed:                   12" in out

    # Beat finds nothing left to poll.
    polls = endpoint_count(ac.control, "GET /import/info")
    assert importer.poll_open_batches().failed == []
    assert endpoint_count(ac.control, "GET /import/info") == polls

    ac.control.set_faults(bulk_outcome="completed")
    code, out, _ = resync(*since(), "--failed-only")

    assert code == 0, out
    in_ac = {contact["email"] for contact in ac.control.contacts()}
    assert in_ac == {person.email for person in people}
    assert SyncLog.objects.filter(status=SyncLog.Status.SUCCESS).count() == 12


def test_a_batch_that_never_finishes_is_closed_after_its_deadline_and_sent_again(ac, attendee, settings):
    people = [attendee() for _ in range(11)]
    ac.control.set_faults(bulk_outcome="never")

    code, out, _ = resync(*since(), "--poll-timeout", "0.3")

    assert SyncLog.objects.filter(status=SyncLog.Status.RUNNING).count() == 11
    assert "still importing" in out

    settings.CRM_SYNC = {**settings.CRM_SYNC, "BULK_IMPORT_DEADLINE": 0}
    ac.control.set_faults(bulk_outcome="completed")
    code, out, _ = resync(*since())

    # The run reports the batch it gave up on, then sends those people again.
    assert "batches left by an earlier run: 0 succeeded, 11 failed, 0 still importing" in out
    assert "succeeded:                11" in out
    closed = SyncLog.objects.filter(error_category="import_failed")
    assert closed.count() == 11 and "had not finished batch" in closed.first().error_message
    assert not SyncLog.objects.filter(status=SyncLog.Status.RUNNING).exists()
    assert {contact["email"] for contact in ac.control.contacts()} == {person.email for person in people}
