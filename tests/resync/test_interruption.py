"""A batch left in flight (Ctrl-C, a crash, a poll time limit) is polled by
the next run, never sent again."""
import os
import signal

import pytest

from crm_sync import importer
from crm_sync.models import SyncLog

from .conftest import endpoint_count, resync, since

pytestmark = pytest.mark.django_db


def test_a_batch_still_importing_is_polled_by_the_next_run_not_sent_again(ac, attendee):
    people = [attendee() for _ in range(12)]
    ac.control.set_faults(bulk_delay_seconds=1.5)

    code, out, _ = resync(*since(), "--poll-timeout", "0.2")

    assert code == 1  # not known to have succeeded yet
    assert "still importing in AC:    12" in out
    rows = SyncLog.objects.all()
    assert {(row.status, bool(row.batch_id)) for row in rows} == {("running", True)}

    code, out, _ = resync(*since())

    assert code == 0, out
    assert endpoint_count(ac.control, "POST /import/bulk_import") == 1  # polled, never sent again
    assert "batches left by an earlier run: 12 succeeded" in out
    assert "skipped as unchanged:     12" in out  # the finished import is what AC holds
    assert SyncLog.objects.filter(user=people[0]).count() == 2
    assert set(SyncLog.objects.filter(batch_id__gt="").values_list("status", flat=True)) == {"success"}


def test_people_in_a_batch_still_importing_are_not_sent_again(ac, attendee):
    for _ in range(12):
        attendee()
    ac.control.set_faults(bulk_delay_seconds=60)
    resync(*since(), "--poll-timeout", "0.1")

    code, out, _ = resync(*since(), "--poll-timeout", "0.1")

    assert endpoint_count(ac.control, "POST /import/bulk_import") == 1
    assert "in an earlier batch:      12 (not sent again)" in out
    assert SyncLog.objects.count() == 12


def test_poll_open_batches_finishes_them_for_beat(ac, attendee):
    for _ in range(12):
        attendee()
    ac.control.set_faults(bulk_delay_seconds=0.5)
    resync(*since(), "--poll-timeout", "0.1")

    tally = importer.poll_open_batches()  # one poll each: still importing
    assert (tally.succeeded, tally.still_importing) == (0, 12)
    tally = importer.poll_open_batches(wait=5)

    assert tally.succeeded == 12
    assert not SyncLog.objects.filter(status="running").exists()


def test_rows_abandoned_before_ac_answered_are_failed_later(ac, attendee, now):
    user = attendee()
    row = SyncLog.objects.create(user=user, trigger="resync", status="running",
                                 started_at=now - importer.timezone.timedelta(minutes=20))

    importer.poll_open_batches()

    row.refresh_from_db()
    assert (row.status, row.error_category) == ("failed", "worker_lost")


def test_first_ctrl_c_finishes_the_batch_sent_and_exits_130(ac, attendee, monkeypatch):
    for _ in range(30):
        attendee()
    post = importer.BulkSender._post

    def post_then_ctrl_c(self, people, may_drop_named):
        post(self, people, may_drop_named)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(importer.BulkSender, "_post", post_then_ctrl_c)

    code, out, _ = resync(*since(), "--batch-size", "10")

    assert code == 130
    assert "partial summary" in out
    assert endpoint_count(ac.control, "POST /import/bulk_import") == 1
    assert SyncLog.objects.filter(status="success").count() == 10  # the batch sent was finished
    assert not SyncLog.objects.filter(status="running").exists()
    assert "not reached:              " in out

    monkeypatch.setattr(importer.BulkSender, "_post", post)
    code, out, _ = resync(*since(), "--batch-size", "10")

    assert code == 0
    assert "skipped as unchanged:     10" in out and "succeeded:                20" in out
