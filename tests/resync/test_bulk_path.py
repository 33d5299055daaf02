"""More than 10 people go through AC's bulk importer: what is sent, how
rejections are handled, how batches are finished, and what the live sync
knows afterwards."""
import pytest

from crm_sync import importer
from crm_sync.activecampaign import payloads
from crm_sync.models import ContactState, SyncLog
from crm_sync.attempts import run_attempt

from .conftest import endpoint_count, resync, since

pytestmark = pytest.mark.django_db


def test_more_than_ten_people_are_imported_in_bulk_without_automations(ac, attendee):
    people = [attendee() for _ in range(12)]

    code, out, _ = resync(*since())

    assert code == 0, out
    assert endpoint_count(ac.control, "POST /import/bulk_import") == 1
    assert endpoint_count(ac.control, "POST /contact/sync") == 0
    contacts = {c["email"]: c for c in ac.control.contacts()}
    assert sorted(contacts) == sorted(p.email for p in people)
    contact = contacts[people[0].email]
    assert (contact["firstName"], contact["lastName"], contact["phone"]) == ("Ada", people[0].last_name, "+442079460018")
    assert contact["fields"]["BADGE_NAME"] == "Ada 1"
    assert contact["fields"]["LAST_BADGE_CONFIRMED"] == "2026-03-10"
    assert sorted(contact["tags"]) == ["badge-maker", "event:pycon-2026"]
    assert contact["lists"] == {"badge-maker-attendees": 1}
    assert contact["automations_excluded"] is True
    logs = SyncLog.objects.all()
    assert len(logs) == 12
    assert {(log.trigger, log.status, log.attempt) for log in logs} == {("resync", "success", 1)}
    assert len({log.batch_id for log in logs}) == 1 and logs[0].batch_id
    assert "selected:                 12" in out and "succeeded:                12" in out


def test_run_automations_lets_ac_run_them(ac, attendee):
    for _ in range(11):
        attendee()

    code, _, _ = resync(*since(), "--run-automations")

    assert code == 0
    assert {c["automations_excluded"] for c in ac.control.contacts()} == {False}


def test_the_contact_state_is_left_as_a_live_success_leaves_it(ac, attendee):
    people = [attendee() for _ in range(11)]

    resync(*since())

    state = ContactState.objects.get(user=people[0])
    assert state.sent["email"] == people[0].email
    assert state.sent["fields"]["BADGE_NAME"] == "Ada 1"
    assert (state.tags, state.tags_known, state.list_status) == (["badge-maker", "event:pycon-2026"], True, 1)
    assert state.ac_contact_id == "" and state.last_success_at is not None


def test_a_second_resync_skips_everyone_unchanged(ac, attendee):
    people = [attendee() for _ in range(11)]
    resync(*since())
    people[3].first_name = "Grace"
    people[3].save()  # the signal queues a live sync row; the resync sends the change itself
    SyncLog.objects.filter(trigger="signal").delete()
    seen = len(ac.control.log())

    code, out, _ = resync(*since())

    assert code == 0
    assert "skipped as unchanged:     10" in out
    second = ac.control.log(since=seen)
    assert [e["path"].split("?")[0] for e in second if e["method"] == "POST"] == ["/api/3/import/bulk_import"]
    assert ac.control.contact(people[3].email)["firstName"] == "Grace"
    assert SyncLog.objects.filter(status="skipped", error_message__contains="unchanged").count() == 10


def test_a_live_sync_after_a_bulk_resync_of_an_unchanged_person_makes_no_call(ac, attendee):
    people = [attendee() for _ in range(11)]
    resync(*since())
    seen = len(ac.control.log())

    log = SyncLog.objects.create(user=people[0], trigger="signal")
    run_attempt(log.pk).follow_up

    log.refresh_from_db()
    assert (log.status, log.api_calls) == ("skipped", 0)
    assert "unchanged" in log.error_message
    assert ac.control.log(since=seen) == []


def test_a_batch_rejected_for_a_named_row_fails_that_row_and_sends_the_rest_again(ac, attendee):
    people = [attendee() for _ in range(11)]
    bad = attendee(email="o'brien@example.com")  # Django accepts the apostrophe; AC's importer refuses it

    code, out, _ = resync(*since())

    assert code == 1
    assert endpoint_count(ac.control, "POST /import/bulk_import") == 2
    failed = SyncLog.objects.get(user=bad)
    assert (failed.status, failed.error_category) == ("failed", "validation")
    assert "Field 'email' incorrect format" in failed.error_message
    assert not ContactState.objects.filter(user=bad).exists()
    assert SyncLog.objects.filter(user__in=people, status="success").count() == 11
    assert "failed:                   1" in out and "o'brien@example.com" in out


def test_a_batch_rejected_without_named_rows_is_halved(ac, attendee, monkeypatch):
    # AC's byte limit is not settled (docs/activecampaign.md open question 2): if ours were
    # wrong, AC would refuse the whole request without naming a row.
    monkeypatch.setattr(payloads, "BULK_MAX_BYTES", 10_000_000)
    for _ in range(12):
        attendee(dietary_requirements="x" * 40_000)  # 12 × 40 kB: over the sandbox's 400,000 bytes

    code, out, _ = resync(*since())

    assert code == 0, out
    statuses = [e["status"] for e in ac.control.log() if e["path"].startswith("/api/3/import/bulk_import")]
    assert statuses == [400, 200, 200]
    assert SyncLog.objects.filter(status="success").count() == 12


def test_requests_stay_under_the_byte_limit(ac, attendee):
    for _ in range(12):
        attendee(dietary_requirements="x" * 40_000)

    code, _, _ = resync(*since())

    assert code == 0
    statuses = [e["status"] for e in ac.control.log() if e["path"].startswith("/api/3/import/bulk_import")]
    assert statuses == [200, 200]  # split before sending, never refused


def test_batch_size_splits_the_requests(ac, attendee):
    for _ in range(12):
        attendee()

    code, out, _ = resync(*since(), "--batch-size", "5")

    assert code == 0
    assert endpoint_count(ac.control, "POST /import/bulk_import") == 3
    assert len(set(SyncLog.objects.values_list("batch_id", flat=True))) == 3
    assert "12 (12 in 3 bulk import(s), 0 one by one)" in out


def test_a_failure_reported_at_import_time_fails_that_person_only(ac, attendee):
    people = [attendee() for _ in range(11)]
    # AC accepts the batch, then refuses this row while importing (import/info lists it under `failure`).
    ac.control.set_faults(bulk_fail_emails=[people[2].email.upper()])

    code, out, _ = resync(*since())

    assert code == 1
    failed = SyncLog.objects.get(user=people[2])
    assert (failed.status, failed.error_category) == ("failed", "validation")
    assert "reported this contact as failed" in failed.error_message
    assert not ContactState.objects.filter(user=people[2]).exists()
    assert SyncLog.objects.filter(status="success").count() == 10



@pytest.mark.django_db(transaction=True)
def test_a_live_success_during_the_import_queues_a_live_sync_to_compare(ac, attendee, monkeypatch):
    published = []
    monkeypatch.setattr("crm_sync.outbox.publisher.dispatch_soon", published.append)
    people = [attendee() for _ in range(11)]
    ac.control.set_faults(bulk_delay_seconds=0.3)
    resync(*since(), "--poll-timeout", "0.05")
    # While AC imported, a live sync of people[0] succeeded: which one AC applied last is unknown.
    ContactState.objects.create(user=people[0], account_url=ac.url, sent={"email": people[0].email},
                                last_success_at=importer.timezone.now())

    tally = importer.poll_open_batches(wait=5)

    assert tally.succeeded == 11
    follow_up = SyncLog.objects.get(status="queued")
    assert (follow_up.user, follow_up.trigger) == (people[0], "resync")
    assert published == [follow_up.pk]  # dispatched once the batch's transaction committed


def test_choices_are_imported_as_the_option_values_the_account_holds(ac, attendee):
    # The sandbox's options differ from their labels, as in real accounts.
    people = [attendee(dietary_preferences=["vegetarian", "gluten_free", "kosher"],
                       volunteer_interests=["accessibility", "photography"]) for _ in range(11)]

    code, out, _ = resync(*since())

    assert code == 0, out
    assert endpoint_count(ac.control, "POST /import/bulk_import") == 1
    contact = ac.control.contact(people[0].email)
    assert contact["fields"]["DIETARY_PREFERENCES"] == "||veg||gf||kosher||"
    assert contact["fields"]["VOLUNTEER_INTERESTS"] == "||photo||a11y||"
