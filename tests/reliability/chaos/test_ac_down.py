"""Scenario 5: AC down (refused connections, or 503 to everything) for a
while. CI shape: a 20 s outage with a 2 s breaker reset; the soak shape
(90 s outages for 10 minutes) is in docs/reliability.md."""
import os
import threading
import time

import pytest
import redis
from django.conf import settings
from django.db.models import Max

from badgemaker.badges.models import Event
from crm_sync import burst
from crm_sync.models import SyncLog
from tests.reliability.chaos.conftest import (
    CHAOS_ENV, PEOPLE, assert_exactly_once, confirm_people, report, wait_until_settled,
)

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

OUTAGE = float(os.environ.get("CHAOS_OUTAGE", 20))  # the soak: 75 (docs/reliability.md)
RESET = float(CHAOS_ENV["CRM_SYNC_BREAKER_RESET"])
SWEEP = float(CHAOS_ENV["CRM_SYNC_SWEEP_INTERVAL"])
BREAKER_FAILURES = 5
PROCESSES = 2
# The account's rate for this scenario: high enough for a CI-sized drain, low
# enough that the workers are held by it rather than by the CPU. The sandbox
# enforces the same figure, so a stampede after recovery shows as 429s.
RATE = float(os.environ.get("CHAOS_RATE", 30))  # the soak: 5, the account's real rate
BULK_COLLECT = 2.0  # CRM_SYNC_BURST_COLLECT_SECONDS's default
BULK_POLL = burst.POLL_EVERY
BULK_SHARE = 0.1    # CRM_SYNC's BURST_BULK_SHARE default: the bulk path's requests are spaced at this share of RATE


class ProbeWatcher(threading.Thread):
    """Counts the breaker's probes: each is one acquisition of its probe lock in Redis."""

    def __init__(self, account_url):
        super().__init__(daemon=True)
        self.redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self.key = f"crm_sync:lock:breaker:{account_url}:probe"
        self.tokens = {}
        self.running = True

    def run(self):
        while self.running:
            token = self.redis.get(self.key)
            if token and token not in self.tokens:
                self.tokens[token] = time.time()
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.join()
        return sorted(self.tokens.values())


@pytest.mark.parametrize("down", ["refused", "503"])
def test_ac_down_waits_without_spending_attempts_then_drains_at_the_account_rate(chaos, down):
    chaos.control.set_faults(rate_limit_per_second=int(RATE))
    chaos.workers_up(CRM_SYNC_RATE_LIMIT=RATE)
    event = Event.objects.create(name="Outage Con", slug="outage-con", starts_on="2027-08-01")
    watcher = ProbeWatcher(chaos.sandbox.url)
    watcher.start()
    chaos.control.set_faults(down=down)
    outage_started = time.time()
    people = confirm_people(PEOPLE, event, prefix="outage")
    time.sleep(max(0.0, outage_started + OUTAGE - time.time()))
    failed_in_outage = SyncLog.objects.filter(status="failed").count()
    chaos.control.set_faults(down=None)
    recovered = time.time()
    probes = watcher.stop()

    wait_until_settled(60 + 6 * PEOPLE / RATE, "(after AC came back)")
    assert_exactly_once(chaos.control, people)
    log = chaos.control.log()
    during = [e for e in log if e["t"] < recovered]
    after = [e for e in log if e["t"] >= recovered]
    drained = SyncLog.objects.aggregate(last=Max("finished_at"))["last"].timestamp() - recovered
    attempts_made = sum(  # what the workers tried while AC was down, whether or not it arrived
        1 for row in SyncLog.objects.all() for r in row.requests
        if r["status"] in (None, 503) and not r["response"].startswith("{")
    )
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    # The backlog the outage left is a burst: the switch may send it in bulk.
    # Those people also wait for one import, the drain's collecting and a
    # poll, and for three requests (a lookup, the import, the poll) at the
    # bulk path's share of the rate.
    through_bulk = SyncLog.objects.exclude(batch_id="").count()
    bulk_wait = (chaos.control.faults()["bulk_delay_seconds"] + BULK_COLLECT + BULK_POLL + 3 / (BULK_SHARE * RATE)
                 if through_bulk else 0.0)
    drain_limit = 1.5 * len(after) / RATE + SWEEP + bulk_wait
    report(f"5 AC down ({down})", wall_s=chaos.elapsed(), outage_s=OUTAGE, breaker_reset_s=RESET,
           requests_tried_during_outage=attempts_made, arrived_during_outage=len(during), probes=len(probes),
           min_probe_gap_s=round(min(gaps), 2) if gaps else None, attempts_spent_by_outage=failed_in_outage,
           calls_after_recovery=len(after), through_bulk=through_bulk, drained_s=round(drained, 1),
           drain_limit_s=round(drain_limit, 1),
           status_429=sum(1 for e in after if e["status"] == 429))

    # At most one probe per reset interval across all workers, after the
    # failures that opened the breaker (those in flight at that moment included).
    assert len(probes) <= OUTAGE / RESET + 1
    assert all(gap >= 0.9 * RESET for gap in gaps), gaps
    assert attempts_made <= BREAKER_FAILURES + PROCESSES + len(probes)
    # Attempts spent before the breaker knew: fewer than its threshold; none after.
    assert failed_in_outage <= BREAKER_FAILURES - 1 + PROCESSES - 1
    assert SyncLog.objects.filter(status="failed").count() == failed_in_outage
    # The backlog drains at the account's rate (or in bulk, sooner).
    assert drained <= drain_limit
    assert sum(1 for e in after if e["status"] == 429) < 0.01 * len(after)
