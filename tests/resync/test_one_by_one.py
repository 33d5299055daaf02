"""People the bulk importer cannot handle like the live sync, and runs of 10
people or fewer, go through the live sync itself."""
import pytest

from crm_sync.models import ContactState, SyncLog

from .conftest import endpoint_count, resync, since

pytestmark = pytest.mark.django_db


def test_ten_people_or_fewer_go_one_by_one(ac, attendee):
    people = [attendee() for _ in range(3)]

    code, out, _ = resync(*since())

    assert code == 0, out
    assert endpoint_count(ac.control, "POST /import/bulk_import") == 0
    assert endpoint_count(ac.control, "POST /contact/sync") == 3
    logs = SyncLog.objects.order_by("user_id")
    assert [(log.user, log.trigger, log.status) for log in logs] == [(p, "resync", "success") for p in people]
    assert "3 (0 in 0 bulk import(s), 3 one by one)" in out
    state = ContactState.objects.get(user=people[0])
    assert state.ac_contact_id and state.tags_known


def test_not_opted_in_and_unchanged_people_are_skipped_with_a_row(ac, attendee):
    synced = attendee()
    assert resync(*since())[0] == 0  # one by one: now known to AC
    attendee(opt_in=False)
    for _ in range(10):
        attendee()

    code, out, _ = resync(*since())

    assert code == 0
    assert "skipped as unchanged:     1" in out and "skipped as not opted in:  1" in out
    assert SyncLog.objects.filter(user=synced).count() == 2  # one row per person per run
    assert SyncLog.objects.filter(status="skipped", error_message__startswith="not opted in").count() == 1
    assert endpoint_count(ac.control, "POST /import/bulk_import") == 1


def test_changed_email_withdrawn_and_renewed_opt_in_go_one_by_one_in_a_bulk_run(ac, attendee):
    moved, withdrawn, renewed = attendee(), attendee(), attendee()
    assert resync(*since())[0] == 0  # three people: one by one, with AC contact ids
    moved.email = "moved@example.com"
    moved.save()
    withdrawn.crm_opt_in = False
    withdrawn.save()
    ContactState.objects.filter(user=renewed).update(list_status=2)  # unsubscribed earlier, opted in again now
    SyncLog.objects.filter(trigger="signal").delete()
    others = [attendee() for _ in range(10)]
    seen = len(ac.control.log())

    code, out, _ = resync(*since())

    assert code == 0, out
    paths = [(e["method"], e["path"].split("?")[0]) for e in ac.control.log(since=seen)]
    assert paths.count(("POST", "/api/3/import/bulk_import")) == 1
    assert ("PUT", f"/api/3/contacts/{ContactState.objects.get(user=moved).ac_contact_id}") in paths
    assert ac.control.contact("moved@example.com") is not None
    assert len(ac.control.contacts()) == 13  # the new email updated the contact, no second one
    assert ac.control.contact(withdrawn.email)["lists"] == {"badge-maker-attendees": 2}
    assert ContactState.objects.get(user=renewed).list_status == 1
    assert "13 (10 in 1 bulk import(s), 3 one by one)" in out
    bulk_rows = SyncLog.objects.exclude(batch_id="")
    assert sorted(row.user_id for row in bulk_rows) == sorted(p.pk for p in others)


def test_exit_status_is_1_when_a_one_by_one_attempt_fails(ac, attendee):
    attendee(email="o'brien@example.com")

    code, out, _ = resync(*since())

    assert code == 1
    row = SyncLog.objects.get(attempt=1)
    assert (row.trigger, row.status, row.error_category) == ("resync", "failed", "validation")
    assert "failed:                   1" in out


def test_a_changed_email_after_a_bulk_import_updates_the_same_contact(ac, attendee):
    people = [attendee() for _ in range(11)]
    assert resync(*since())[0] == 0  # in bulk: no AC ids
    people[0].email = "moved@example.com"
    people[0].save()
    SyncLog.objects.filter(trigger="signal").delete()

    code, out, _ = resync(*since())

    assert code == 0, out
    assert ac.control.contact("moved@example.com") is not None
    assert len(ac.control.contacts()) == 11
