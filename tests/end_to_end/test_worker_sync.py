"""The whole path: the web flow confirms badges, a real worker syncs them
to the AC sandbox over sockets."""
import statistics
import time

import pytest
from django.test import Client

from badgemaker.badges.models import Badge
from crm_sync.models import SyncLog
from tests.badge_pages import confirm_through_web
from tests.factories import EventFactory
from tests.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_confirmed_badges_become_contacts_through_a_real_worker(worker, ac_sandbox):
    control = ac_sandbox.control
    event = EventFactory(name="PyCon Demo", slug="pycon-demo", starts_on="2027-01-15")
    people = [f"Attendee{n}@Example.com" for n in range(8)]
    confirmed_at = {}
    for email in people:
        started = time.monotonic()
        confirm_through_web(Client(), event, email)
        confirmed_at[email.lower()] = time.monotonic()
        assert time.monotonic() - started < 2.0, "the confirmation waited on something"
    confirm_through_web(Client(), event, "no-thanks@example.com", opt_in=False)

    arrived = {}

    def all_arrived():
        for contact in control.contacts():
            arrived.setdefault(contact["email"], time.monotonic())
        return len(arrived) >= len(people)

    assert wait_for(all_arrived, timeout=60), f"only {sorted(arrived)} arrived\n{worker.output()[-4000:]}"
    # Give a late duplicate a moment to show itself, then check the end state.
    wait_for(lambda: not SyncLog.objects.filter(status__in=["queued", "running"]).exists(), timeout=30)

    contacts = {c["email"]: c for c in control.contacts()}
    assert sorted(contacts) == sorted(email.lower() for email in people)  # one each, none for the opt-out
    contact = contacts["attendee0@example.com"]
    badge = Badge.objects.get(user__email__iexact="attendee0@example.com")
    assert (contact["firstName"], contact["lastName"], contact["phone"]) == ("Ada", "Lovelace", "+442079460018")
    assert contact["fields"]["BADGE_NAME"] == "Countess Ada"
    assert contact["fields"]["DIETARY_PREFERENCES"] == "||vegan||halal||"  # the option values the account holds
    assert contact["fields"]["VOLUNTEER_INTERESTS"] == "||photo||"
    assert contact["fields"]["EMERGENCY_CONTACT_PHONE"] == "+447911123456"
    assert contact["fields"]["BADGEMAKER_USER_ID"] == str(badge.user_id)
    assert contact["fields"]["EVENTS_ATTENDED"] == "PyCon Demo"
    assert sorted(contact["tags"]) == ["badge-maker", "event:pycon-demo"]
    assert contact["lists"] == {"badge-maker-attendees": 1}

    logs = SyncLog.objects.filter(user__email__iexact="attendee0@example.com").order_by("id")
    assert logs.last().status == "success"
    assert SyncLog.objects.get(user__email="no-thanks@example.com").status == "skipped"
    assert not SyncLog.objects.filter(status="failed").exists()

    # What it cost: the catalog once, then per person one sync, two tags and one list call.
    stats = control.stats()
    per_endpoint = stats["endpoints"]
    assert per_endpoint.get("POST /contact/sync") == len(people)
    assert per_endpoint.get("POST /contactTags") == 2 * len(people)
    assert per_endpoint.get("POST /contactLists") == len(people)
    assert stats["max_in_any_sliding_second"] <= 5
    assert stats["duplicate_tag_attach"] == 0

    delays = [arrived[email] - confirmed_at[email] for email in arrived]
    print(f"\nconfirmation to contact in AC: median {statistics.median(delays):.2f}s, max {max(delays):.2f}s "
          f"for {len(people)} badges; AC requests {sum(per_endpoint.values())}")
    assert max(delays) < 30
