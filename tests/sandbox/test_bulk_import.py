"""Bulk import: limits, whole-batch rejection by index, AC's statuses, how a batch ends."""

import json
import time

import pytest
import requests


@pytest.fixture
def quick_bulk(control):
    control.set_faults(bulk_delay_seconds=0.3, bulk_seconds_per_contact=0.0)


def bulk(api, contacts):
    return api.post("/import/bulk_import", json={"contacts": contacts})


def wait_until_completed(api, batch_id, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = api.get("/import/info", params={"batchId": batch_id}).json()
        if info["status"] == "completed":
            return info
        time.sleep(0.05)
    raise AssertionError("batch never completed")


def test_queued_then_completed_and_only_then_written(api, control, catalog, quick_bulk):
    field = catalog.field("DIETARY_PREFERENCES")["id"]
    list_id = catalog.list("badge-maker-attendees")["id"]
    response = bulk(api, [
        {"email": "One@example.com", "first_name": "One", "tags": ["attendee", "Event: PyCon 2026"],
         "fields": [{"id": int(field), "value": "||vegan||"}], "subscribe": [{"listid": list_id}],
         "exclude_automations": True},
        {"email": "two@example.com", "last_name": "Two"},
    ])
    assert response.status_code == 200
    body = response.json()
    assert body["Success"] == 1 and body["queued_contacts"] == 2 and body["message"] == "Contact import queued"
    assert api.get("/import/info", params={"batchId": body["batchId"]}).json() == {"status": False}
    assert control.contacts() == []
    info = wait_until_completed(api, body["batchId"])
    stored = {c["email"]: c for c in control.contacts()}
    assert sorted(info["success"]) == sorted(c["id"] for c in stored.values()) and info["failure"] == []
    one = stored["One@example.com"]
    assert one["firstName"] == "One" and one["fields"] == {"DIETARY_PREFERENCES": "||vegan||"}
    assert sorted(one["tags"]) == ["Event: PyCon 2026", "attendee"]
    assert one["lists"] == {"badge-maker-attendees": 1}
    assert one["automations_excluded"] is True
    assert stored["two@example.com"]["automations_excluded"] is False


def test_existing_tags_are_reused_case_insensitively(api, control, quick_bulk):
    batch = bulk(api, [{"email": "a@example.com", "tags": ["EVENT: PYCON"]}, {"email": "b@example.com"}])
    wait_until_completed(api, batch.json()["batchId"])
    assert control.contact("a@example.com")["tags"] == ["Event: pycon"]


def test_sync_made_contacts_show_automations_excluded_as_null(api, control):
    api.sync(email="sync@example.com")
    assert control.contact("sync@example.com")["automations_excluded"] is None


def test_one_bad_row_rejects_the_whole_batch_by_index(api, control, catalog):
    field = catalog.field("DATE_OF_BIRTH")["id"]
    response = bulk(api, [
        {"email": "fine@example.com"},
        {"email": "not-an-email"},
        {"email": "fine2@example.com", "firstName": "camel"},
        {"email": "fine3@example.com", "fields": [{"id": field, "value": "31/12/1990"}]},
    ])
    assert response.status_code == 400
    body = response.json()
    assert body["success"] == 0 and "not queued" in body["message"]
    assert sorted({r["contact"] for r in body["failureReasons"]}) == [1, 2, 3]
    time.sleep(0.1)
    assert control.contacts() == []


def test_at_most_250_contacts(api):
    response = bulk(api, [{"email": f"c{n}@example.com"} for n in range(251)])
    assert response.status_code == 400 and response.json()["success"] == 0
    assert bulk(api, [{"email": f"c{n}@example.com"} for n in range(250)]).status_code == 200


def test_payload_must_be_under_400000_bytes(api):
    contacts = [{"email": f"c{n}@example.com", "last_name": "x" * 200} for n in range(250)]
    padding = 400_000 - len(json.dumps({"contacts": contacts}))
    contacts[0]["first_name"] = "y" * 200
    contacts[1]["phone"] = ""
    body = json.dumps({"contacts": contacts, "pad": "z" * max(padding, 0)}).encode()
    assert len(body) >= 400_000
    response = api.post("/import/bulk_import", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["success"] == 0


def test_single_contact_imports_are_limited_to_20_a_minute(api):
    statuses = [bulk(api, [{"email": f"s{n}@example.com"}]).status_code for n in range(21)]
    assert statuses == [200] * 20 + [400]
    limited = bulk(api, [{"email": "late@example.com"}]).json()
    assert limited["success"] == 0 and limited["message"] == "Rate limit exceeded."
    assert len(limited["failureReasons"]) == 1


def test_multi_contact_imports_are_limited_to_100_a_minute(api):
    two = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    statuses = [bulk(api, two).status_code for _ in range(101)]
    assert statuses == [200] * 100 + [400]


def test_imports_that_finished_importing_still_count_towards_the_minute(api, control, quick_bulk):
    two = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    batches = [bulk(api, two).json()["batchId"] for _ in range(100)]
    for batch in batches:
        wait_until_completed(api, batch)

    refused = bulk(api, two)

    assert refused.status_code == 400 and refused.json()["message"] == "Rate limit exceeded."


def test_a_contact_imported_again_is_updated_in_place(api, control, catalog, quick_bulk):
    """Values overwritten, tags only added, once each whatever their case,
    and the same email twice in a batch ends as its last row says."""
    twitter, badge = catalog.field("TWITTER")["id"], catalog.field("BADGE_NAME")["id"]
    first = bulk(api, [{"email": "again@example.com", "first_name": "Ada", "tags": ["attendee", "Speaker"],
                        "fields": [{"id": twitter, "value": "@ada"}, {"id": badge, "value": "Ada"}]},
                       {"email": "other@example.com"}]).json()["batchId"]
    wait_until_completed(api, first)
    contact_id = control.contact("again@example.com")["id"]
    second = bulk(api, [{"email": "Again@example.com", "tags": ["ATTENDEE", "volunteer"],
                         "fields": [{"id": twitter, "value": "@ada_l"}]},
                        {"email": "again@example.com", "last_name": "Lovelace", "tags": ["volunteer"],
                         "fields": [{"id": badge, "value": "Countess"}]}]).json()["batchId"]
    done = wait_until_completed(api, second)

    contact = control.contact("again@example.com")
    assert done["success"] == [contact_id, contact_id] and contact["id"] == contact_id
    assert (contact["firstName"], contact["lastName"]) == ("Ada", "Lovelace")
    assert contact["fields"] == {"TWITTER": "@ada_l", "BADGE_NAME": "Countess"}
    assert len(contact["tags"]) == 3 and {tag.lower() for tag in contact["tags"]} == {"attendee", "speaker", "volunteer"}


def test_import_info_needs_a_batch_id(api):
    response = api.get("/import/info")
    assert response.status_code == 400
    assert response.json() == {"success": 0, "message": "'batchId' is a required field."}
    assert api.get("/import/info", params={"batchId": "nope"}).status_code == 404


def test_blank_values_in_bulk_overwrite(api, control, quick_bulk):
    api.sync(email="b@example.com", firstName="Bea", phone="123")
    batch = bulk(api, [{"email": "B@example.com", "first_name": ""}, {"email": "other@example.com"}])
    wait_until_completed(api, batch.json()["batchId"])
    assert control.contact("b@example.com")["firstName"] == ""
    assert control.contact("b@example.com")["phone"] == "123"


def test_bulk_never_resubscribes_someone_who_unsubscribed(api, control, catalog, quick_bulk):
    list_id = catalog.list("badge-maker-attendees")["id"]
    contact = api.sync(email="u@example.com").json()["contact"]["id"]
    api.post("/contactLists", json={"contactList": {"list": list_id, "contact": contact, "status": 2}})
    batch = bulk(api, [{"email": "u@example.com", "subscribe": [{"listid": list_id}]}, {"email": "v@example.com"}])
    wait_until_completed(api, batch.json()["batchId"])
    assert control.contact("u@example.com")["lists"] == {"badge-maker-attendees": 2}


def test_import_time_failures_are_reported_under_failure_and_not_written(ac_sandbox):
    """`bulk_fail_emails`: the batch is accepted, then AC refuses those rows while importing."""
    control = ac_sandbox.control
    control.set_faults(bulk_fail_emails=["Refused@example.com"], bulk_delay_seconds=0.1, rate_limit_per_second=1000)
    rows = [{"email": f"p{n}@example.com"} for n in range(3)] + [{"email": "refused@example.com"}]
    response = requests.post(ac_sandbox.api_url + "/import/bulk_import", json={"contacts": rows},
                             headers={"Api-Token": ac_sandbox.api_key}, timeout=5)
    assert response.status_code == 200
    batch = response.json()["batchId"]
    time.sleep(0.3)
    info = requests.get(ac_sandbox.api_url + "/import/info", params={"batchId": batch},
                        headers={"Api-Token": ac_sandbox.api_key}, timeout=5).json()
    assert info["status"] == "completed"
    assert info["failure"] == ["refused@example.com"] and len(info["success"]) == 3
    assert control.contact("refused@example.com") is None


def info(api, batch_id):
    return api.get("/import/info", params={"batchId": batch_id}).json()


def wait_until_final(api, batch_id, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        answer = info(api, batch_id)
        if answer["status"] in ("completed", "failed", "interrupted"):
            return answer
        time.sleep(0.05)
    raise AssertionError("batch never finished")


def test_status_is_false_then_waiting_then_active_then_completed(api, control):
    control.set_faults(bulk_delay_seconds=2.0, bulk_seconds_per_contact=0.0)
    queued = time.time()
    batch = bulk(api, [{"email": "w1@example.com"}, {"email": "w2@example.com"}]).json()["batchId"]
    assert info(api, batch) == {"status": False}
    assert info(api, batch) == {"status": "waiting"}  # the first half of the 2 s delay
    time.sleep(max(0.0, queued + 1.4 - time.time()))
    assert info(api, batch) == {"status": "active"}
    assert control.contacts() == []
    done = wait_until_final(api, batch)
    assert done["status"] == "completed" and done["failure"] == []
    assert sorted(done["success"]) == sorted(c["id"] for c in control.contacts())


def test_a_batch_first_asked_about_when_done_answers_its_final_status(api, quick_bulk):
    batch = bulk(api, [{"email": "late1@example.com"}, {"email": "late2@example.com"}]).json()["batchId"]
    time.sleep(0.5)
    answer = info(api, batch)
    assert answer["status"] == "completed" and len(answer["success"]) == 2


def test_failed_batches_write_nothing(api, control, quick_bulk):
    control.set_faults(bulk_outcome="failed")
    batch = bulk(api, [{"email": "f1@example.com"}, {"email": "f2@example.com"}]).json()["batchId"]
    assert wait_until_final(api, batch) == {"status": "failed", "success": [], "failure": []}
    assert control.contacts() == []


def test_interrupted_batches_write_only_the_first_half(api, control, quick_bulk):
    control.set_faults(bulk_outcome="interrupted")
    rows = [{"email": f"i{n}@example.com"} for n in range(5)]
    batch = bulk(api, rows).json()["batchId"]
    answer = wait_until_final(api, batch)
    stored = control.contacts()
    assert [c["email"] for c in stored] == ["i0@example.com", "i1@example.com"]
    assert answer == {"status": "interrupted", "success": [c["id"] for c in stored], "failure": []}


def test_a_batch_that_never_finishes_stays_active(api, control, quick_bulk):
    control.set_faults(bulk_outcome="never")
    batch = bulk(api, [{"email": "n1@example.com"}, {"email": "n2@example.com"}]).json()["batchId"]
    assert info(api, batch) == {"status": False}
    time.sleep(0.6)
    assert info(api, batch) == {"status": "active"}
    assert control.contacts() == []


def test_the_outcome_is_the_one_set_when_the_batch_was_queued(api, control, quick_bulk):
    control.set_faults(bulk_outcome="failed")
    doomed = bulk(api, [{"email": "d1@example.com"}, {"email": "d2@example.com"}]).json()["batchId"]
    control.set_faults(bulk_outcome="completed")
    fine = bulk(api, [{"email": "ok1@example.com"}, {"email": "ok2@example.com"}]).json()["batchId"]
    assert wait_until_final(api, doomed)["status"] == "failed"
    assert wait_until_final(api, fine)["status"] == "completed"
    assert sorted(c["email"] for c in control.contacts()) == ["ok1@example.com", "ok2@example.com"]


def test_a_tag_with_a_comma_fails_the_batch(api):
    response = bulk(api, [{"email": "c@example.com", "tags": ["a, b"]}, {"email": "d@example.com"}])
    assert response.status_code == 400
    assert [r["contact"] for r in response.json()["failureReasons"]] == [0]
