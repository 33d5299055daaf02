"""Scenario 4: AC answering 500/503 to 20% of requests, timing out before
(5%) and after (5%) applying a write, and 429 bursts; a fixed seed."""
from collections import Counter

import pytest

from badgemaker.badges.models import Event
from crm_sync.models import SyncLog
from tests.reliability.chaos.conftest import PEOPLE, assert_exactly_once, confirm_people, report, wait_until_settled

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

SEED = 20261127


def test_errors_timeouts_and_429_bursts_still_end_exactly_once(chaos):
    # Four pool processes: a read timeout or a Retry-After holds a process for a second.
    chaos.workers_up(concurrency=4)
    chaos.control.set_faults(
        error_rate=0.2, error_statuses=[500, 503],
        timeout_before_write_rate=0.05,  # a read timeout: AC never applied it
        timeout_after_write_rate=0.05,   # AC applied it, the answer never came: what makes duplicates
        timeout_seconds=2,               # longer than CRM_SYNC_READ_TIMEOUT=1
        burst_429={"every": 97, "length": 3}, retry_after=1, seed=SEED,
    )
    event = Event.objects.create(name="Flaky Con", slug="flaky-con", starts_on="2027-06-01")
    people = confirm_people(PEOPLE, event, prefix="flaky")
    settle_seconds = wait_until_settled(180, "(under the fault mix)")

    assert_exactly_once(chaos.control, people)
    stats = chaos.control.stats()
    failed = Counter(SyncLog.objects.filter(status="failed").values_list("error_category", flat=True))
    report("4 fault mix", wall_s=chaos.elapsed(), settled_s=round(settle_seconds, 1), seed=SEED,
           requests=stats["total_requests"], faults=dict(stats["faults"]),
           refused_duplicate_tag_attaches=stats["duplicate_tag_attach"], failed_attempts=dict(failed),
           rows=SyncLog.objects.count())
