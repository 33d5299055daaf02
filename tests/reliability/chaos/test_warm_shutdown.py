"""Scenario 3: a warm shutdown (SIGTERM) with attempts in flight, as every
deploy does, then the new node picks up the rest."""
import time

import pytest

from badgemaker.badges.models import Event
from crm_sync.models import SyncLog
from tests.reliability.chaos.conftest import PEOPLE, assert_exactly_once, confirm_people, report, wait_until_settled

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]


def test_warm_shutdown_mid_backlog_loses_and_repeats_nothing(chaos):
    old, = chaos.workers_up()
    chaos.control.set_faults(latency_ms=50)  # attempts of ~0.2 s, so some are always in flight
    event = Event.objects.create(name="Deploy Con", slug="deploy-con", starts_on="2027-05-01")
    people = confirm_people(PEOPLE, event, prefix="deploy")

    deadline = time.monotonic() + 30
    while SyncLog.objects.filter(status="success").count() < 40 or not SyncLog.objects.filter(status="running"):
        assert time.monotonic() < deadline, "no backlog in flight to interrupt"
        time.sleep(0.05)
    in_flight = SyncLog.objects.filter(status="running").count()
    shutdown_seconds = old.warm_shutdown()
    assert not SyncLog.objects.filter(status="running").exists(), "a warm shutdown left an attempt running"
    left = SyncLog.objects.filter(status="queued").count()

    chaos.control.set_faults(latency_ms=0)
    chaos.workers_up()  # the deploy's new node
    settle_seconds = wait_until_settled(90, "(after the deploy)")
    assert_exactly_once(chaos.control, people)
    lost = SyncLog.objects.filter(error_category="worker_lost").count()
    report("3 warm shutdown", wall_s=chaos.elapsed(), in_flight_at_sigterm=in_flight,
           shutdown_s=round(shutdown_seconds, 1), queued_after_shutdown=left, worker_lost_rows=lost,
           new_node_settled_s=round(settle_seconds, 1))
    assert lost == 0, "a warm shutdown abandoned attempts"
