"""Scenario 6: two syncs of one person forced to overlap (300 ms sandbox
latency). The person lock serialises them: the sandbox sees one attempt's
requests, then the other's, never a mix; one contact with the latest data."""
import time
from urllib.parse import urlsplit

import pytest

from badgemaker.badges.models import Event
from crm_sync.models import SyncLog
from tests.factories import BadgeFactory, UserFactory
from tests.reliability.chaos.conftest import assert_exactly_once, clean_run, last_seq, report, wait_until_settled

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

PAIRS = 6


def requests_of(row):
    """(method, path without query) of every AC request an attempt recorded, in order."""
    return [(r["method"], urlsplit(r["path"]).path) for r in row.requests]


def test_two_overlapping_syncs_of_one_person_never_interleave(chaos):
    chaos.workers_up()  # one node, two pool processes: one per sync of the pair
    event = Event.objects.create(name="Overlap Con", slug="overlap-con", starts_on="2027-04-01")
    clean_seconds, people = clean_run(event)  # 200 people first, no fault (also scenario 8's baseline)

    chaos.control.set_faults(latency_ms=300)
    for n in range(PAIRS):
        # One pair at a time, so that every request the sandbox sees in this window is this person's.
        since = last_seq(chaos.control)
        person = UserFactory(email=f"Overlap{n}@Example.com", first_name="Grace", last_name="Hopper",
                             crm_opt_in=True)
        badge = BadgeFactory(user=person, event=event, badge_name="first", confirmed=True)  # sync A
        deadline = time.monotonic() + 10
        while not any(e["email"] == person.email.lower() for e in chaos.control.log(since)):
            assert time.monotonic() < deadline, "sync A never reached the sandbox"
            time.sleep(0.02)
        badge.badge_name = "latest"
        badge.save()  # sync B, while A's requests are in flight
        wait_until_settled(30, f"(pair {n})")
        people.append(person)

        first, second = SyncLog.objects.filter(user=person).order_by("pk")
        assert second.started_at < first.finished_at, "the two syncs did not overlap; the scenario tests nothing"
        seen = [(e["method"], urlsplit(e["path"]).path) for e in chaos.control.log(since)]
        a, b = requests_of(first), requests_of(second)
        assert seen in (a + b, b + a), f"interleaved requests for {person.email}:\n{seen}\nA={a}\nB={b}"
        assert chaos.control.contact(person.email)["fields"]["BADGE_NAME"] == "latest"

    assert_exactly_once(chaos.control, people)
    report("6 overlapping syncs", wall_s=chaos.elapsed(), people=len(people), pairs=PAIRS,
           clean_run_s=round(clean_seconds, 1))
