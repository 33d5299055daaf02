"""AC failing half its requests for a while: every badge still ends as the right contact."""
import time

import pytest
from django.test import Client

from crm_sync.models import SyncLog
from tests.badge_pages import confirm_through_web
from tests.factories import EventFactory
from tests.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_half_of_requests_failing_with_503_for_30_seconds(worker, ac_sandbox):
    control = ac_sandbox.control
    event = EventFactory(name="Outage Con", slug="outage-con", starts_on="2027-02-01")
    control.set_faults(error_rate=0.5, error_statuses=[503], seed=20261127)
    started = time.monotonic()
    emails = [f"person{n}@example.com" for n in range(20)]
    for email in emails:
        confirm_through_web(Client(), event, email, badge_name=f"Badge {email}")
    time.sleep(max(0.0, 30 - (time.monotonic() - started)))
    control.set_faults(error_rate=0.0)
    healed = time.monotonic()

    def converged():
        contacts = {c["email"]: c for c in control.contacts()}
        return (len(contacts) == len(emails)
                and all(c["lists"] == {"badge-maker-attendees": 1} and len(c["tags"]) == 2 for c in contacts.values())
                and not SyncLog.objects.filter(status__in=["queued", "running"]).exists())

    assert wait_for(converged, timeout=120, interval=1), worker.output()[-4000:]
    print(f"\nconverged {time.monotonic() - healed:.1f}s after AC healed; "
          f"{SyncLog.objects.filter(status='failed').count()} failed attempts on the way")
    contacts = {c["email"]: c for c in control.contacts()}
    assert sorted(contacts) == sorted(emails)  # one contact each: no duplicates
    assert all(contacts[e]["fields"]["BADGE_NAME"] == f"Badge {e}" for e in emails)
    assert control.stats()["duplicate_tag_attach"] == 0
    for email in emails:
        assert SyncLog.objects.filter(email=email).order_by("-id").first().status == "success"
