"""Scenario 2: pool processes SIGKILLed mid-attempt (the sandbox already has
part of the attempt), three times, then a whole worker node killed, with a
test-only visibility timeout."""
import os
import signal
import time
from collections import Counter

import pytest

from badgemaker.badges.models import Event
from crm_sync.models import SyncLog
from tests.reliability.chaos.conftest import (
    PEOPLE, assert_exactly_once, confirm_people, report, sandbox_port, wait_until_settled,
)
from tests.processes import connections_to

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT = 10  # test-only; production keeps 3600 (anchors.md B.1)


def pool_process_mid_attempt(nodes, port, timeout=20):
    """A pool process that has held a connection to the sandbox for two polls
    in a row: it is inside an attempt and the sandbox has its first request."""
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        busy = {pid for node in nodes for pid in node.pool_pids() if connections_to(pid, port)}
        ready = busy & seen
        if ready:
            return min(ready)
        seen = busy
        time.sleep(0.03)
    raise AssertionError("no pool process was ever seen mid-attempt")


def test_pool_processes_and_a_whole_node_killed_mid_attempt(chaos):
    survivor, victim = chaos.workers_up(nodes=2, CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
                                        CRM_SYNC_RUNNING_TIMEOUT=8)
    chaos.control.set_faults(latency_ms=120)  # attempts of ~0.6 s, so a kill lands mid-attempt
    port = sandbox_port(chaos.sandbox)
    event = Event.objects.create(name="Kill Con", slug="kill-con", starts_on="2027-07-01")
    people = confirm_people(PEOPLE, event, prefix="kill")

    killed = []
    for _ in range(3):
        pid = pool_process_mid_attempt([survivor, victim], port)
        running = set(SyncLog.objects.filter(status="running").values_list("pk", flat=True))
        os.kill(pid, signal.SIGKILL)
        killed.append((pid, running))
        time.sleep(1.0)
    pool_process_mid_attempt([victim], port)
    running = set(SyncLog.objects.filter(status="running").values_list("pk", flat=True))
    victim.kill()
    killed.append(("node", running))
    node_killed_at = time.monotonic()

    settle_seconds = wait_until_settled(90, "(after the kills)")
    assert_exactly_once(chaos.control, people)

    lost = list(SyncLog.objects.filter(error_category="worker_lost").order_by("pk"))
    # A kill can still land just after an attempt finished (the process is
    # picked while mid-attempt, killed a moment later): allow one such miss.
    assert len(lost) >= len(killed) - 1, f"expected an orphaned attempt per kill, found {len(lost)}"
    for what, running in killed:  # each kill orphaned one of the attempts running at that moment
        assert running & {row.pk for row in lost}, (what, running)
    log = chaos.control.log()
    for row in lost:
        # Each orphan had reached the sandbox: a request for its email arrived after it started.
        assert any(e["email"] == row.email and e["t"] >= row.started_at.timestamp() for e in log), row.pk
    closed_by = Counter("redelivery" if "stopped before" in row.error_message else "sweep" for row in lost)
    report("2 workers killed", wall_s=chaos.elapsed(), pool_kills=len(killed) - 1, node_kills=1,
           orphans_closed_by=dict(closed_by),
           worker_lost_rows=len(lost), settled_after_node_kill_s=round(time.monotonic() - node_killed_at, 1),
           settle_s=round(settle_seconds, 1), rows=SyncLog.objects.count())
