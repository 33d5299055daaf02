"""The bulk-import path speaks to the CRM only through its backend
(crm.CrmBackend): here a CRM that is not AC, with the answers each test
needs, and no HTTP at all; then AC's backend turning its importer's
answers into those errors and reports."""
import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from crm_sync import importer
from crm_sync.activecampaign.backend import ActiveCampaignBackend
from crm_sync.activecampaign.client import Answer
from crm_sync.crm import BulkLimits, ImportReport
from crm_sync.errors import (
    BadResponse,
    BulkRateLimited,
    NotBulkable,
    RowsRejected,
    TransientError,
    ValidationFailed,
)
from crm_sync.mapping import ContactPayload
from crm_sync.models import SyncLog

pytestmark = pytest.mark.django_db


class OtherCrm:
    """A CRM backend's bulk half: `answers` are what bulk_import gives, in turn."""

    name = "Other"
    bulk_limits = BulkLimits(max_rows=3, multi_row_requests=100, single_row_requests=100)

    def __init__(self, *answers, failed=()):
        self.answers = list(answers)
        self.failed = frozenset(failed)
        self.sent = []

    def bulk_row(self, payload, *, exclude_automations):
        if payload.contact:
            raise NotBulkable("no bulk name for that")
        return {"who": payload.email}

    def bulk_row_size(self, row):
        return 1

    def bulk_fits(self, rows_size, count):
        return True

    def bulk_import(self, rows):
        self.sent.append([row["who"] for row in rows])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def import_report(self, batch_id):
        return ImportReport(finished=True, failed_emails=self.failed, status="done")

    def bulk_request_record(self, row):
        return {"method": "POST", "path": "/bulk", "body": row, "status": None, "response": ""}

    def import_report_record(self, batch_id, report):
        return {"method": "GET", "path": f"/bulk/{batch_id}", "body": None, "status": 200, "response": report.status}


@pytest.fixture
def send(monkeypatch):
    monkeypatch.setattr(importer, "POLL_FIRST", 0.0)
    waits = []

    def send(crm, *emails):
        sender = importer.BulkSender(crm, "https://other.example", importer.Tally(), sleep=waits.append)
        for email in emails:
            sender.add(sender.person(None, None, ContactPayload(email=email), exclude_automations=True))
        sender.flush()
        sender.poll(block=True)
        return sender.tally, waits

    return send


def rows():
    return {log.email: log for log in SyncLog.objects.all()}


def test_named_rows_fail_and_the_rest_is_sent_again_after_the_importers_own_wait(send):
    crm = OtherCrm(BulkRateLimited("busy", retry_after=7.0), RowsRejected("no", rows={1: "bad address"}), "b1",
                   failed={"c@example.com"})

    tally, waits = send(crm, "a@example.com", "b@example.com", "c@example.com")

    assert waits[0] == 7.0
    assert crm.sent == [["a@example.com", "b@example.com", "c@example.com"]] * 2 + [["a@example.com", "c@example.com"]]
    logs = rows()
    assert (logs["b@example.com"].status, logs["b@example.com"].error_message) == (
        "failed", "Other's bulk importer refused this contact: bad address")
    assert (logs["a@example.com"].status, logs["a@example.com"].error_message) == (
        "success", "imported by Other in bulk (batch b1)")
    assert logs["a@example.com"].requests == [
        {"method": "POST", "path": "/bulk", "body": {"who": "a@example.com"}, "status": 200,
         "response": "queued as batch b1"},
        {"method": "GET", "path": "/bulk/b1", "body": None, "status": 200, "response": "done"},
    ]
    assert logs["c@example.com"].status == "failed"
    assert "Other's importer reported this contact as failed (batch b1)" in logs["c@example.com"].error_message
    assert (tally.succeeded, len(tally.failed), tally.bulk_requests) == (1, 2, 3)


def test_a_rejection_naming_no_row_halves_the_batch(send):
    crm = OtherCrm(RowsRejected("no"), "b1", "b2")

    send(crm, "a@example.com", "b@example.com", "c@example.com")

    assert crm.sent == [["a@example.com", "b@example.com", "c@example.com"], ["a@example.com"],
                        ["b@example.com", "c@example.com"]]
    assert {log.status for log in rows().values()} == {"success"}


def test_errors_worth_retrying_are_retried_and_an_answer_marked_otherwise_is_not(send):
    crm = OtherCrm(TransientError("timeout"), BadResponse("queued without an id", status=200, retryable=False))

    _, waits = send(crm, "a@example.com", "b@example.com")

    assert waits == [2] and len(crm.sent) == 2
    log = rows()["a@example.com"]
    assert (log.status, log.error_category, log.error_message) == ("failed", "bad_response", "queued without an id")
    assert log.requests[-1]["status"] == 200


def test_a_contact_the_importer_cannot_carry_is_not_a_bulk_person():
    sender = importer.BulkSender(OtherCrm(), "https://other.example", importer.Tally())

    assert sender.person(None, None, ContactPayload(email="a@example.com", contact={"x": "y"}),
                         exclude_automations=True) is None


# -- AC's side of it: its importer's answers turned into the backend's errors and reports ----------------
class StubClient:
    body_limit = 2000

    def __init__(self, answer):
        self.answer = answer

    def request(self, method, path, *, json_body=None, params=None):
        if isinstance(self.answer, Exception):
            raise self.answer
        return Answer(200, self.answer)

    def get(self, path, **params):
        return self.answer


def ac(answer):
    return ActiveCampaignBackend(StubClient(answer), catalog=None, list_stringid="attendees")


def test_acs_rate_limit_400_is_the_importers_rate_limit():
    refused = ValidationFailed("400", status=400, body={"message": "Rate limit exceeded."})

    with pytest.raises(BulkRateLimited) as raised:
        ac(refused).bulk_import([{}, {}])

    assert raised.value.retry_after == 60.0 and raised.value.retryable


def test_acs_failure_reasons_name_the_rows():
    refused = ValidationFailed("400", status=400, body={"failureReasons": [
        {"contact": 1, "failureReason": "bad email"}, {"contact": 1, "failureReason": "bad phone"},
        {"contact": 9, "failureReason": "not in this request"}]})

    with pytest.raises(RowsRejected) as raised:
        ac(refused).bulk_import([{}, {}])

    assert raised.value.rows == {1: "bad email; bad phone"}


def test_an_answer_without_a_batch_id_is_not_sent_again():
    with pytest.raises(BadResponse, match="gave no batchId") as raised:
        ac({"success": 1}).bulk_import([{}])

    assert not raised.value.retryable and ac({"batchId": "b7"}).bulk_import([{}]) == "b7"


def test_import_info_becomes_a_report():
    report = ac({"status": "completed", "failure": [" A@Example.com", {"email": "b@example.com"}]}).import_report("b7")

    assert report == ImportReport(finished=True, failed_emails=frozenset({"a@example.com", "b@example.com"}),
                                  status="completed")
    assert not ac({"status": "active"}).import_report("b7").finished


@pytest.mark.parametrize("status", ["failed", "interrupted", "FAILED"])
def test_failed_and_interrupted_are_final_and_mean_send_again(status):
    report = ac({"status": status, "success": ["12"], "failure": []}).import_report("b7")

    assert report.finished and report.aborted and report.status == status.lower()


@pytest.mark.parametrize("answer", [{"status": False}, {"status": "waiting"}, {"status": "claimed"},
                                    {"status": "active"}, {}])
def test_a_batch_ac_is_still_working_on_is_not_finished(answer):
    report = ac(answer).import_report("b7")

    assert not report.finished and not report.aborted


def _running_rows(batch_id, *emails, minutes_ago=0):
    started = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    SyncLog.objects.bulk_create([
        SyncLog(email=email, trigger=SyncLog.Trigger.RESYNC, status=SyncLog.Status.RUNNING, batch_id=batch_id,
                started_at=started, account_url=settings.ACTIVECAMPAIGN_URL,
                requests=[{"method": "POST", "path": "/api/3/import/bulk_import", "status": None}])
        for email in emails])


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_the_rows_of_a_batch_ac_ended_unfinished_fail_with_a_reason_that_says_so(status):
    _running_rows("b7", "a@example.com", "b@example.com")
    tally = importer.Tally()

    importer.complete_batch("b7", ac({"status": status}).import_report("b7"), ac({}), tally)

    rows = SyncLog.objects.filter(batch_id="b7")
    assert {row.status for row in rows} == {SyncLog.Status.FAILED}
    assert {row.error_category for row in rows} == {"import_failed"}
    assert all(f"as '{status}'" in row.error_message and "run resync_crm again" in row.error_message
               for row in rows)
    assert all(row.requests[0]["status"] == 200 and row.requests[-1]["path"].endswith("batchId=b7")
               for row in rows)
    assert sorted(email for email, *_ in tally.failed) == ["a@example.com", "b@example.com"]


def test_a_batch_unfinished_past_its_deadline_is_closed_instead_of_polled_for_ever(settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "BULK_IMPORT_DEADLINE": 3600}
    _running_rows("old", "late@example.com", minutes_ago=61)
    _running_rows("new", "recent@example.com", minutes_ago=5)
    polled = []

    class Still(StubClient):
        def get(self, path, **params):
            polled.append(params["batchId"])
            return {"status": "active"}

    backend = ActiveCampaignBackend(Still({}), catalog=None, list_stringid="attendees")
    tally = importer.poll_open_batches(backend=backend)

    old = SyncLog.objects.get(batch_id="old")
    assert old.status == SyncLog.Status.FAILED and old.error_category == "import_failed"
    assert "had not finished batch old after 60 minutes" in old.error_message
    assert polled == ["new"] and SyncLog.objects.get(batch_id="new").status == SyncLog.Status.RUNNING
    assert [email for email, *_ in tally.failed] == ["late@example.com"]
