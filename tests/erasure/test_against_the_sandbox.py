"""Erasure and subject access against the AC sandbox over sockets: deleting
a person removes their contact, a resync afterwards brings back neither
them nor someone erased from the admin, their email is left in no SyncLog
or inbox row; with AC's monthly deletion cap hit the erasure waits with a
clear reason and completes once the cap is raised; "What AC holds" reads
the contact's fields, tags and lists back. The last test runs it all
through a real worker."""
import datetime
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from badgemaker.accounts.models import User
from crm_sync import erasure
from crm_sync.erasure import request_erasure
from crm_sync.models import ContactState, ErasureReceipt, SyncLog
from tests.erasure.conftest import rows_naming
from tests.factories import BadgeFactory, EventFactory, UserFactory
from tests.processes import wait_for

LIMIT_REASON = ("AC's monthly deletion limit is reached: raise it in AC (or wait for next month); "
                "crm_sync tries again every hour")


def resync_today():
    """`manage.py resync_crm` for badges confirmed today, as an operator runs it."""
    today = timezone.localdate().isoformat()
    out = StringIO()
    call_command("resync_crm", "--since", today, "--until", today, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_a_deleted_person_leaves_ac_and_a_resync_brings_back_nobody_erased(sandbox_settings, synced, erasures):
    control = sandbox_settings.control
    ada, grace, alan = synced("ada@example.com"), synced("grace@example.com"), synced("alan@example.com")
    assert {contact["email"] for contact in control.contacts()} == {"ada@example.com", "grace@example.com",
                                                                    "alan@example.com"}

    with erasures.run():
        ada.delete()                                   # the account deleted in Badge Maker
        request_erasure(grace, "staff-member")         # "Erase from AC": Grace stays in Badge Maker
    assert list(ErasureReceipt.objects.values_list("status", flat=True)) == ["done", "done"]
    assert {contact["email"] for contact in control.contacts()} == {"alan@example.com"}

    SyncLog.objects.filter(user=alan).delete()  # so that the resync has Alan to send again
    ContactState.objects.filter(user=alan).delete()
    resync_today()

    assert {contact["email"] for contact in control.contacts()} == {"alan@example.com"}
    assert User.objects.filter(email="grace@example.com").exists()
    for email in ("ada@example.com", "grace@example.com"):
        assert rows_naming(email) == []
    assert control.stats()["endpoints"].get("DELETE /contacts/{id}") == 2


@pytest.mark.django_db
def test_with_the_deletion_limit_hit_the_erasure_waits_then_completes_once_raised(sandbox_settings, synced,
                                                                                   erasures):
    control = sandbox_settings.control
    control.set_faults(deletion_limit=0)
    ada = synced("ada@example.com")

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert (receipt.status, receipt.answer) == ("waiting", LIMIT_REASON)
    assert control.contact("ada@example.com") is not None
    assert rows_naming("ada@example.com") == []  # our copies are gone already
    out = StringIO()
    call_command("crm_sync_status", stdout=out)
    assert f"erasure {receipt.pk} (contact {receipt.contact_id})" in out.getvalue() and LIMIT_REASON in out.getvalue()

    control.set_faults(deletion_limit=None)  # raised in AC
    with erasures.run():
        assert erasure.sweep(now=receipt.retry_at + datetime.timedelta(seconds=1)) == 1

    receipt.refresh_from_db()
    assert receipt.status == "done" and receipt.answer == f"AC deleted contact {receipt.contact_id} (answered 200)"
    assert control.contact("ada@example.com") is None


@pytest.mark.django_db
def test_what_ac_holds_reads_the_contact_back_with_its_fields_tags_and_lists(sandbox_settings, synced, client,
                                                                             make_staff):
    ada = synced("ada@example.com")
    staff = make_staff(client, "crm_sync.view_synclog", "accounts.view_user")
    url = reverse("admin:crm_sync_erasurereceipt_holdings", args=[ada.pk])

    html = staff.get(url).content.decode()
    data = json.loads(staff.get(url, {"download": "json"}).content)

    assert "<td>BADGE_NAME</td>" in html and "badge-maker, event:pycon-2026" in html
    assert sandbox_settings.api_key not in html
    crm = data["crm"]
    assert crm["contact"]["email"] == "ada@example.com" and crm["contact"]["firstName"] == "Ada"
    values = {item["perstag"]: item["value"] for item in crm["field_values"]}
    assert values["BADGE_NAME"] == "Ada" and values["BADGEMAKER_USER_ID"] == str(ada.pk)
    assert sorted(tag["name"] for tag in crm["tags"]) == ["badge-maker", "event:pycon-2026"]
    assert [(item["stringid"], item["status"]) for item in crm["lists"]] == [("badge-maker-attendees", 1)]
    assert sandbox_settings.api_key not in json.dumps(data)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_deleting_a_person_in_the_admin_removes_their_contact_through_a_real_worker(worker, ac_sandbox):
    control = ac_sandbox.control
    ada = UserFactory(email="ada@example.com")
    BadgeFactory(user=ada, event=EventFactory(), confirmed=True)
    assert wait_for(lambda: control.contact("ada@example.com"), timeout=60), worker.output()[-3000:]
    assert wait_for(lambda: ContactState.objects.filter(user=ada).exclude(ac_contact_id="").exists(), timeout=30)
    admin = Client()
    admin.force_login(UserFactory(superuser=True))

    response = admin.post(reverse("admin:accounts_user_delete", args=[ada.pk]), {"post": "yes"})

    assert response.status_code == 302 and not User.objects.filter(email="ada@example.com").exists()
    assert wait_for(lambda: control.contact("ada@example.com") is None, timeout=60), worker.output()[-3000:]
    assert wait_for(lambda: ErasureReceipt.objects.filter(status="done").exists(), timeout=10)
    assert rows_naming("ada@example.com") == []
