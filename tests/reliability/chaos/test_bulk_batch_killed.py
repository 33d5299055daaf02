"""Scenario 9: a burst goes through the bulk importer (the burst switch),
and the worker node that sent the batch is SIGKILLed while the CRM is still
importing it. A new node takes over: the batch is polled to its end, nobody
in it is sent again, nobody is lost."""
import time

import pytest

from badgemaker.badges.models import Event
from crm_sync.models import ImportBatch, SyncLog
from tests.reliability.chaos.conftest import assert_exactly_once, confirm_people, report, wait_until_settled
from tests.processes import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

LIMIT = 5          # AC's rate: a backlog of new people is slow one by one, so the switch sends them in bulk
IMPORT_SECONDS = 8  # the sandbox's import time: long enough to kill the node in the middle
PEOPLE = 120       # at AC's rate one by one: 100 s; the switch sends them in bulk


def test_a_node_killed_while_its_bulk_batch_imports_loses_no_one_and_duplicates_no_one(chaos):
    chaos.control.set_faults(rate_limit_per_second=LIMIT, bulk_delay_seconds=IMPORT_SECONDS,
                             bulk_seconds_per_contact=0)
    env = dict(CRM_SYNC_RATE_LIMIT=LIMIT, CRM_SYNC_BURST_IMPORT_SECONDS=IMPORT_SECONDS,
               CELERY_VISIBILITY_TIMEOUT=10, CRM_SYNC_BULK_POLL_INTERVAL=3)
    (victim,) = chaos.workers_up(nodes=1, **env)
    event = Event.objects.create(name="Bulk Con", slug="bulk-con", starts_on="2027-09-01")
    people = confirm_people(PEOPLE, event, prefix="bulk")

    assert wait_for(lambda: ImportBatch.objects.filter(lane="burst").exists(), timeout=60), chaos.logs()
    batch = ImportBatch.objects.filter(lane="burst").order_by("pk").first()
    assert batch.status == "in_flight", "the kill must land while the CRM imports"
    victim.kill()
    killed_at = time.monotonic()
    in_batch = set(SyncLog.objects.filter(batch_id=batch.batch_id).values_list("user_id", flat=True))

    chaos.workers_up(nodes=1, **env)
    settle_seconds = wait_until_settled(120, "(after the node running the burst was killed)")
    assert_exactly_once(chaos.control, people)

    assert ImportBatch.objects.get(pk=batch.pk).status == "completed"
    rows = SyncLog.objects.filter(user_id__in=in_batch)
    assert {(row.status, row.batch_id, row.attempt) for row in rows} == {("success", batch.batch_id, 1)}, \
        "everyone in the killed node's batch was finished by its poll, none sent again"
    assert rows.count() == len(in_batch)
    report("bulk batch killed", wall_s=chaos.elapsed(), people=len(people), in_killed_batch=len(in_batch),
           batches=ImportBatch.objects.count(), through_bulk=SyncLog.objects.exclude(batch_id="").count(),
           settled_after_kill_s=round(time.monotonic() - killed_at, 1), settle_s=round(settle_seconds, 1))
