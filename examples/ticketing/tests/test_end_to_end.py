"""crm_sync installed from its wheel, in a project that is not Badge Maker:
paid registrations reach the AC sandbox through a real Celery worker."""
import importlib.metadata
import importlib.util
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

import crm_sync
from crm_sync.models import SyncLog
from tickets.models import Customer, Registration

pytestmark = pytest.mark.e2e
WAIT_SECONDS = 60
LIST = "badge-maker-attendees"


def wait_for(what, predicate, worker, timeout=WAIT_SECONDS):
    """Poll `predicate` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout}s\n--- worker log ---\n{worker.output()[-4000:]}")
        time.sleep(0.25)


def test_crm_sync_is_the_installed_wheel():
    """Nothing of Badge Maker, and no source checkout of crm_sync, is importable here."""
    assert importlib.util.find_spec("badgemaker") is None
    installed = Path(crm_sync.__file__).resolve().parent
    assert "site-packages" in installed.parts, installed
    assert installed.parent == Path(sysconfig.get_paths()["purelib"]).resolve(), installed
    assert importlib.metadata.version("crm_sync") == crm_sync.__version__
    repo_root = Path(__file__).resolve().parents[3]
    if (repo_root / "crm_sync" / "__init__.py").exists():  # run from inside the crm_sync repository
        assert repo_root.resolve() not in {Path(entry or ".").resolve() for entry in sys.path}
        assert installed != (repo_root / "crm_sync").resolve()


@pytest.mark.django_db
def test_system_checks_pass():
    """The settings are complete: no errors from crm_sync's checks (or Django's)."""
    call_command("check", fail_level="ERROR")


@pytest.mark.django_db
def test_admin_pages_render(admin_client):
    """crm_sync's admin templates shipped in the wheel."""
    customer = Customer.objects.create(email="grace@example.com", marketing_consent=True)
    Registration.objects.create(customer=customer, conference="PyCon", paid_at=timezone.now())
    for url in ("/admin/crm_sync/synclog/", "/admin/crm_sync/synclog/dashboard/",
                f"/admin/tickets/customer/{customer.pk}/change/"):
        assert admin_client.get(url).status_code == 200, url


@pytest.mark.django_db(transaction=True)
def test_paid_registrations_reach_activecampaign(worker, ac_sandbox):
    control = ac_sandbox.control
    paid_at = timezone.now()

    # -- a customer buys a first ticket (committed, so the worker sees it) -----
    with transaction.atomic():
        ada = Customer.objects.create(email="Ada@Example.com", first_name="Ada", last_name="Lovelace",
                                      marketing_consent=True)
        first = Registration.objects.create(customer=ada, conference="DjangoCon Europe 2027",
                                            ticket_type=Registration.TicketType.SPEAKER,
                                            name_on_badge="Countess Ada", paid_at=paid_at)
        # Not opted in: synced as "skipped", never sent.
        bob = Customer.objects.create(email="bob@example.com", first_name="Bob", marketing_consent=False)
        Registration.objects.create(customer=bob, conference="DjangoCon Europe 2027", paid_at=paid_at)
        # Not paid: not a contact at all, no sync queued.
        carol = Customer.objects.create(email="carol@example.com", marketing_consent=True)
        Registration.objects.create(customer=carol, conference="DjangoCon Europe 2027")

    wait_for("the first registration synced",
             lambda: SyncLog.objects.filter(badge=first, status=SyncLog.Status.SUCCESS).exists(), worker)
    wait_for("bob's sync skipped",
             lambda: SyncLog.objects.filter(user=bob, status=SyncLog.Status.SKIPPED).exists(), worker)
    assert not SyncLog.objects.filter(user=carol).exists()

    contacts = control.contacts()
    assert [c["email"] for c in contacts] == ["ada@example.com"]
    contact = contacts[0]
    assert (contact["firstName"], contact["lastName"]) == ("Ada", "Lovelace")
    assert contact["fields"] == {
        "BADGE_NAME": "Countess Ada",
        "LAST_EVENT": "DjangoCon Europe 2027",
        "LAST_BADGE_CONFIRMED": timezone.localdate(paid_at).isoformat(),
        "EVENTS_ATTENDED": "DjangoCon Europe 2027",
    }
    assert sorted(contact["tags"]) == ["conference:djangocon-europe-2027", "ticket:speaker", "ticketing"]
    assert contact["lists"] == {LIST: 1}

    # -- a second ticket: the same contact is updated, and gains a tag ---------
    with transaction.atomic():
        second = Registration.objects.create(customer=ada, conference="PyCon US 2027",
                                             ticket_type=Registration.TicketType.STANDARD,
                                             paid_at=paid_at + timezone.timedelta(minutes=5))

    wait_for("the second registration synced",
             lambda: SyncLog.objects.filter(badge=second, status=SyncLog.Status.SUCCESS).exists(), worker)

    contacts = control.contacts()
    assert [c["email"] for c in contacts] == ["ada@example.com"], "a duplicate contact was created"
    updated = contacts[0]
    assert updated["id"] == contact["id"]
    assert updated["fields"]["LAST_EVENT"] == "PyCon US 2027"
    assert updated["fields"]["EVENTS_ATTENDED"] == "DjangoCon Europe 2027\nPyCon US 2027"
    assert updated["fields"]["BADGE_NAME"] == "Ada Lovelace"  # the latest registration has no badge name
    assert sorted(updated["tags"]) == ["conference:djangocon-europe-2027", "conference:pycon-us-2027",
                                       "ticket:speaker", "ticket:standard", "ticketing"]
    assert updated["lists"] == {LIST: 1}

    # Every attempt finished well, and the CRM saw no more than AC's 5 requests a second.
    assert not SyncLog.objects.exclude(status__in=[SyncLog.Status.SUCCESS, SyncLog.Status.SKIPPED]).exists()
    stats = control.stats()
    assert stats["endpoints"].get("POST /contact/sync") == 2
    assert stats["max_in_any_sliding_second"] <= 5
    assert stats["duplicate_tag_attach"] == 0
