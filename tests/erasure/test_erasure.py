"""Erasing a person from AC, against the fake AC: deleting their account (or
the staff action) deletes their contact through the queue, redacts every
copy crm_sync kept, keeps a receipt without personal data, and nothing
syncs them again; AC's monthly deletion cap makes the erasure wait with a
clear reason until it is raised."""
import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from badgemaker.accounts.models import User
from crm_sync import erasure
from crm_sync.attempts import run_attempt
from crm_sync.conf import ac_account
from crm_sync.erasure import request_erasure
from crm_sync.locks import lock_person, release_person
from crm_sync.models import ContactState, ErasureReceipt, InboxEvent, SyncLog
from crm_sync.resync import Options, select_people
from crm_sync.sync import Reason, plan
from crm_sync.testing import run_syncs_eagerly
from tests.erasure.conftest import receipt_text, rows_naming
from tests.factories import ContactStateFactory, SyncLogFactory
from tests.fake_ac import BASE

pytestmark = pytest.mark.django_db

DELETION_LIMIT = (422, {"errors": [{"title": "The monthly contact deletion limit for this account has been reached",
                                    "code": "deletion_limit"}]})
LIMIT_REASON = ("AC's monthly deletion limit is reached: raise it in AC (or wait for next month); "
                "crm_sync tries again every hour")


def contact_of(person):
    return ContactState.objects.get(user=person).ac_contact_id


def inbox_row(n, **fields):
    return InboxEvent.objects.create(dedup_key=f"key{n}", event_type="unsubscribe", **fields)


# -- deleting the account --------------------------------------------------------------
def test_deleting_a_person_deletes_their_contact_and_keeps_a_receipt_without_personal_data(
        fake_ac, synced, erasures):
    ada = synced("ada@example.com", last_name="Lovelace")
    contact_id, person_pk = contact_of(ada), ada.pk

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert fake_ac.deleted == [contact_id]
    assert contact_id not in fake_ac.contacts
    assert (receipt.status, receipt.person_pk, receipt.contact_id, receipt.requested_by, receipt.attempts) == (
        "done", str(person_pk), contact_id, "account deleted", 1)
    assert receipt.answer == f"AC deleted contact {contact_id} (answered 200)"
    assert receipt.finished_at is not None and receipt.retry_at is None
    assert "ada@example.com" not in receipt_text(receipt) and "Lovelace" not in receipt_text(receipt)


def test_their_sync_history_and_inbox_rows_are_redacted(fake_ac, synced, erasures):
    ada = synced("ada@example.com", last_name="Lovelace")
    contact_id = contact_of(ada)
    about_ada = inbox_row(1, person=ada, email="ada@example.com", payload={"contact[email]": "ada@example.com"},
                          reason="opted out ada@example.com", contact_id=contact_id, account_url=ac_account()[0])
    about_contact = inbox_row(2, contact_id=contact_id, email="ada@example.com",
                              payload={"contact[email]": "ada@example.com", "type": "bounce"})
    someone_else = inbox_row(3, contact_id="999", email="grace@example.com", payload={"contact[email]": "grace@example.com"})
    assert rows_naming("ada@example.com") and rows_naming("Lovelace")

    with erasures.run():
        ada.delete()

    assert rows_naming("ada@example.com") == [] and rows_naming("Lovelace") == []
    logs = SyncLog.objects.all()
    assert logs and all(log.redacted_at and log.user_id is None for log in logs)
    assert {log.status for log in logs} == {"success"}  # what happened is kept, the values are not
    for event in (about_ada, about_contact):
        event.refresh_from_db()
        assert event.redacted_at is not None and event.payload["contact[email]"] == ""
    about_ada.refresh_from_db()
    assert about_ada.payload.keys() == {"contact[email]"} and about_ada.reason == "(redacted)"
    someone_else.refresh_from_db()
    assert someone_else.email == "grace@example.com" and someone_else.redacted_at is None


def test_a_sync_queued_before_the_deletion_can_not_bring_the_contact_back(fake_ac, synced, erasures):
    ada = synced("ada@example.com")
    queued = SyncLogFactory(user=ada, status="queued")
    syncs_before = len(fake_ac.calls("POST", "/contact/sync"))

    with erasures.run():
        ada.delete()
    run_attempt(queued.pk)  # its message arrives after all

    queued.refresh_from_db()
    assert (queued.status, queued.error_message, queued.email) == ("skipped", str(Reason.ERASED), "")
    assert len(fake_ac.calls("POST", "/contact/sync")) == syncs_before
    assert fake_ac.contacts == {}


def test_a_person_never_sent_to_ac_gets_a_receipt_and_no_request(fake_ac, make_user, erasures):
    grace = make_user(email="grace@example.com")

    with erasures.run():
        grace.delete()

    receipt = ErasureReceipt.objects.get()
    assert (receipt.status, receipt.contact_id, receipt.answer) == ("done", "", "no CRM contact known for this "
                                                                            "person; nothing to erase")
    assert erasures.ran == [] and len(fake_ac.rsps.calls) == 0


def test_a_contact_imported_in_bulk_is_found_by_email_before_the_person_goes(fake_ac, make_user, erasures):
    ada = make_user(email="Ada@Example.com")
    ContactStateFactory(user=ada, ac_contact_id="", sent={"email": "ada@example.com", "contact": {}, "fields": {}})
    fake_ac.contacts["777"] = "ada@example.com"

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert (receipt.status, receipt.contact_id) == ("done", "777")
    assert [path for _, path, _ in fake_ac.calls("GET")] == ["/contacts"]
    assert fake_ac.deleted == ["777"]


def test_when_that_lookup_fails_the_receipt_says_what_to_do_without_the_address(fake_ac, make_user, erasures):
    ada = make_user(email="ada@example.com")
    ContactStateFactory(user=ada, ac_contact_id="", sent={"email": "ada@example.com", "contact": {}, "fields": {}})
    fake_ac.rsps.replace("GET", BASE + "/contacts", status=503, json={})
    person_pk = ada.pk

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert not User.objects.filter(pk=person_pk).exists()  # the deletion is not held up by AC
    assert receipt.status == "failed" and erasures.ran == []
    assert f"find the contact of person {person_pk} in the CRM and delete it by hand" in receipt.answer
    assert "503" in receipt.answer and "ada" not in receipt_text(receipt).lower()


def test_a_first_sync_running_at_the_deletion_leaves_a_failed_receipt_saying_so(fake_ac, make_user, erasures):
    """Its contact may appear in AC after the lookup, and the person is gone
    before the sync could record it: a person must look."""
    ada = make_user(email="ada@example.com")
    SyncLogFactory(user=ada, status="running")
    person_pk = ada.pk

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert receipt.status == "failed" and erasures.ran == []
    assert receipt.answer == (f"a sync of person {person_pk} was running when they were deleted and the CRM had no "
                              "contact with their email yet: if it has one now, delete it by hand")


# -- "Erase from AC": the person stays -----------------------------------------------------
def test_an_erased_person_stays_but_is_never_synced_again(fake_ac, synced, erasures):
    ada = synced("ada@example.com")
    contact_id = contact_of(ada)

    with erasures.run():
        receipt = request_erasure(ada, "staff-member")

    receipt.refresh_from_db()
    assert (receipt.status, receipt.requested_by, fake_ac.deleted) == ("done", "staff-member", [contact_id])
    assert User.objects.filter(pk=ada.pk).exists() and not ContactState.objects.filter(user=ada).exists()
    assert rows_naming("ada@example.com") == []
    assert plan(ada).reason is Reason.ERASED
    requests_before = len(fake_ac.rsps.calls)

    with run_syncs_eagerly() as ran:
        ada.first_name = "Augusta"
        ada.save()

    assert [(log.status, log.error_message, log.email) for log in ran] == [("skipped", str(Reason.ERASED), "")]
    assert len(fake_ac.rsps.calls) == requests_before
    assert fake_ac.contacts == {}


def test_the_resync_does_not_even_select_an_erased_person(fake_ac, synced, erasures):
    ada, grace = synced("ada@example.com"), synced("grace@example.com")
    with erasures.run():
        request_erasure(ada, "staff-member")
    today = timezone.localdate()

    people, _ = select_people(Options(since=today, until=today), ac_account()[0])

    assert list(people) == [grace]


def test_an_erasure_in_another_account_does_not_stop_this_one(fake_ac, synced):
    ada = synced("ada@example.com")
    ErasureReceipt.objects.create(person_pk=str(ada.pk), account_url="https://other.api-us1.com", status="done")

    assert plan(ada, ContactState.objects.get(user=ada)).reason is Reason.UNCHANGED


def test_asking_twice_gives_one_receipt(fake_ac, synced, erasures):
    ada = synced("ada@example.com")
    fake_ac.delete_reply = DELETION_LIMIT
    with erasures.run():
        first = request_erasure(ada, "one")
        second = request_erasure(ada, "two")

    assert first.pk == second.pk and ErasureReceipt.objects.count() == 1
    assert ErasureReceipt.objects.get().requested_by == "one"


def test_a_sync_running_during_the_request_is_redacted_once_it_ends(fake_ac, synced, erasures, settings):
    """The erasure waits for the person's lock, then forgets again what the
    running attempt wrote meanwhile."""
    ada = synced("ada@example.com")
    contact_id = contact_of(ada)
    running = SyncLogFactory(user=ada, status="running", email="")
    token = lock_person(ada.pk)  # the worker running it holds the person's lock
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PERSON_LOCK_WAIT": 0.1}

    with erasures.run():
        receipt = request_erasure(ada, "staff-member")
    assert erasures.again == [(receipt.pk, erasure.PERSON_BUSY_WAIT)] and fake_ac.deleted == []
    receipt.refresh_from_db()
    assert (receipt.status, receipt.attempts) == ("queued", 0)

    # The attempt ends and saves its row as it holds it, then frees the lock.
    running.status, running.finished_at, running.email = "success", timezone.now(), "ada@example.com"
    running.ac_contact_id, running.payload = contact_id, {"email": "ada@example.com"}
    running.save()
    release_person(ada.pk, token)
    assert erasure.run_erasure(receipt.pk) is None

    receipt.refresh_from_db()
    assert receipt.status == "done" and fake_ac.deleted == [contact_id]
    assert rows_naming("ada@example.com") == []


# -- how AC answers ---------------------------------------------------------------------
def test_with_the_deletion_limit_hit_the_erasure_waits_with_the_reason_then_completes(fake_ac, synced, erasures):
    ada = synced("ada@example.com")
    contact_id = contact_of(ada)
    fake_ac.delete_reply = DELETION_LIMIT
    before = timezone.now()

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert (receipt.status, receipt.answer, receipt.finished_at) == ("waiting", LIMIT_REASON, None)
    assert 3600 <= (receipt.retry_at - before).total_seconds() < 3660
    assert erasures.again == []  # the sweep takes it from here
    out = StringIO()
    call_command("crm_sync_status", stdout=out)
    assert "1 waiting" in out.getvalue() and LIMIT_REASON in out.getvalue()

    with erasures.run():
        assert erasure.sweep() == 0  # not due yet
    fake_ac.delete_reply = None  # raised in AC
    with erasures.run():
        assert erasure.sweep(now=receipt.retry_at + datetime.timedelta(seconds=1)) == 1

    receipt.refresh_from_db()
    assert (receipt.status, receipt.attempts, fake_ac.deleted) == ("done", 2, [contact_id])


def test_the_retry_interval_is_a_setting(fake_ac, synced, erasures, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "ERASURE_RETRY_SECONDS": 7200}
    ada = synced("ada@example.com")
    fake_ac.delete_reply = DELETION_LIMIT
    before = timezone.now()

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert receipt.answer.endswith("crm_sync tries again every 2 hours")
    assert 7200 <= (receipt.retry_at - before).total_seconds() < 7260


def test_a_transient_error_is_retried_with_backoff(fake_ac, synced, erasures):
    ada = synced("ada@example.com")
    contact_id = contact_of(ada)
    fake_ac.delete_reply = (503, {})

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    [(again_id, countdown)] = erasures.again
    assert again_id == receipt.pk and 0 < countdown <= 2
    assert (receipt.status, receipt.attempts) == ("queued", 1)
    assert receipt.answer.startswith("will try again: DELETE /api/3/contacts/") and "503" in receipt.answer
    assert receipt.retry_at > timezone.now()

    fake_ac.delete_reply = None
    assert erasure.run_erasure(receipt.pk) is None
    receipt.refresh_from_db()
    assert (receipt.status, receipt.attempts, fake_ac.deleted) == ("done", 2, [contact_id])


def test_a_contact_already_gone_from_ac_counts_as_erased(fake_ac, synced, erasures):
    ada = synced("ada@example.com")
    contact_id = contact_of(ada)
    del fake_ac.contacts[contact_id]  # deleted in AC by hand

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert receipt.status == "done"
    assert receipt.answer == f"AC had no contact {contact_id} any more (answered 404): nothing left to erase"


def test_any_other_refusal_fails_with_acs_reason_and_is_not_swept(fake_ac, synced, erasures):
    ada = synced("ada@example.com")
    fake_ac.delete_reply = (422, {"errors": [{"title": "Contact is locked", "code": "locked"}]})

    with erasures.run():
        ada.delete()

    receipt = ErasureReceipt.objects.get()
    assert receipt.status == "failed" and "Contact is locked" in receipt.answer
    with erasures.run():
        assert erasure.sweep(now=timezone.now() + datetime.timedelta(days=1)) == 0


def test_a_lost_message_is_dispatched_again_by_the_sweep(fake_ac, synced, django_capture_on_commit_callbacks,
                                                         erasures):
    ada = synced("ada@example.com")
    with erasure.handoff(lambda receipt_id, countdown=None: False), \
            django_capture_on_commit_callbacks(execute=True):  # the broker is down
        ada.delete()
    receipt = ErasureReceipt.objects.get()
    assert receipt.status == "queued" and fake_ac.deleted == []

    with erasures.run():
        assert erasure.sweep() == 0  # not overdue yet
        assert erasure.sweep(now=receipt.retry_at) == 1

    receipt.refresh_from_db()
    assert receipt.status == "done"
