"""What a consent pull and an erasure need: ``GET /contacts`` by list status and change time,
and ``DELETE /contacts/{id}`` under AC's monthly deletion cap."""

import datetime
import time

import pytest

OUR_LIST = "badge-maker-attendees"
LIMIT_REACHED = {"errors": [{"title": "The monthly contact deletion limit for this account has been reached",
                             "code": "deletion_limit"}]}


def on_list(api, list_id, email, status):
    contact_id = api.sync(email=email).json()["contact"]["id"]
    api.post("/contactLists", json={"contactList": {"contact": contact_id, "list": list_id, "status": status}})
    return contact_id


def emails(response):
    return [c["email"] for c in response.json()["contacts"]]


def changed_at(api, contact_id, list_id):
    rows = api.get(f"/contacts/{contact_id}/contactLists").json()["contactLists"]
    return next(row for row in rows if row["list"] == list_id)["udate"]


def next_second():
    time.sleep(1.05 - time.time() % 1)


# -- GET /contacts?listid=&status=&filters[updated_after]= --------------------------------


def test_listid_and_status_select_the_lists_members_by_status(api, catalog):
    ours, other = catalog.list(OUR_LIST)["id"], catalog.list("badge-maker-attendees-old")["id"]
    on_list(api, ours, "in@example.com", 1)
    on_list(api, ours, "out@example.com", 2)
    on_list(api, other, "elsewhere@example.com", 1)
    api.sync(email="nowhere@example.com")
    assert emails(api.get("/contacts", params={"listid": ours, "status": 1})) == ["in@example.com"]
    assert emails(api.get("/contacts", params={"listid": ours, "status": 2})) == ["out@example.com"]
    assert emails(api.get("/contacts", params={"listid": ours})) == ["in@example.com", "out@example.com"]
    assert emails(api.get("/contacts", params={"listid": ours, "status": -1})) == ["in@example.com", "out@example.com"]
    # status alone is ignored, as AC ignores what it does not apply: the whole account comes back
    assert len(emails(api.get("/contacts", params={"status": 1}))) == 4


def test_updated_after_compares_the_membership_change_strictly_after(api, catalog):
    ours = catalog.list(OUR_LIST)["id"]
    early = on_list(api, ours, "early@example.com", 1)
    since = changed_at(api, early, ours)
    next_second()
    late = on_list(api, ours, "late@example.com", 1)
    query = {"listid": ours, "status": 1, "filters[updated_after]": since}
    assert emails(api.get("/contacts", params=query)) == ["late@example.com"]  # not the one changed at `since`

    next_second()
    api.sync(email="early@example.com", firstName="Edited")  # a contact edit is not a list change
    assert emails(api.get("/contacts", params=query)) == ["late@example.com"]
    api.post("/contactLists", json={"contactList": {"contact": early, "list": ours, "status": 2}})
    query["status"] = 2
    assert emails(api.get("/contacts", params=query)) == ["early@example.com"]
    body = api.get("/contacts", params=query).json()
    assert body["meta"] == {"total": "1"}
    assert body["contacts"][0]["udate"] == changed_at(api, early, ours)  # the contact's udate moved with it
    assert late not in [c["id"] for c in body["contacts"]]


def test_updated_after_compares_instants_whatever_the_offset(api, catalog):
    ours = catalog.list(OUR_LIST)["id"]
    contact = on_list(api, ours, "a@example.com", 1)
    moment = datetime.datetime.fromisoformat(changed_at(api, contact, ours))
    before_in_utc = (moment - datetime.timedelta(seconds=1)).astimezone(datetime.timezone.utc).isoformat()
    assert emails(api.get("/contacts", params={"listid": ours, "filters[updated_after]": before_in_utc})) == [
        "a@example.com"]
    # A time without an offset is the account's local time, not UTC.
    naive_utc = (moment - datetime.timedelta(seconds=1)).astimezone(datetime.timezone.utc).replace(tzinfo=None)
    assert emails(api.get("/contacts", params={"listid": ours,
                                               "filters[updated_after]": naive_utc.isoformat()})) == []


def test_an_unreadable_updated_after_is_ignored(api, catalog):
    ours = catalog.list(OUR_LIST)["id"]
    on_list(api, ours, "a@example.com", 1)
    # an unencoded "+" arrives as a space: AC ignores the filter, and so does the sandbox
    response = api.get(f"/contacts?listid={ours}&filters[updated_after]=2999-01-01T00:00:00+00:00")
    assert emails(response) == ["a@example.com"]


def test_the_filtered_collection_pages_like_every_other(api, catalog):
    ours = catalog.list(OUR_LIST)["id"]
    for number in range(23):
        on_list(api, ours, f"p{number:02}@example.com", 2)
    first = api.get("/contacts", params={"listid": ours, "status": 2}).json()
    assert len(first["contacts"]) == 20 and first["meta"] == {"total": "23"}
    rest = api.get("/contacts", params={"listid": ours, "status": 2, "offset": 20, "limit": 500}).json()
    assert [c["email"] for c in rest["contacts"]] == ["p20@example.com", "p21@example.com", "p22@example.com"]


def test_email_lookup_still_works(api):
    api.sync(email="Jane@Example.com")
    api.sync(email="john@example.com")
    assert emails(api.get("/contacts", params={"email": "jane@example.com"})) == ["Jane@Example.com"]


def test_a_repeated_list_status_keeps_its_change_time(api, control, catalog):
    ours = catalog.list(OUR_LIST)["id"]
    contact = on_list(api, ours, "a@example.com", 1)
    first = changed_at(api, contact, ours)
    next_second()
    api.post("/contactLists", json={"contactList": {"contact": contact, "list": ours, "status": 1}})
    control.set_faults(bulk_delay_seconds=0)
    batch = api.post("/import/bulk_import", json={"contacts": [
        {"email": "a@example.com", "subscribe": [{"listid": ours}]}]}).json()["batchId"]
    while api.get("/import/info", params={"batchId": batch}).json()["status"] != "completed":
        time.sleep(0.05)
    assert changed_at(api, contact, ours) == first


# -- DELETE /contacts/{id} and the monthly cap ---------------------------------------------


def test_delete_answers_200_and_the_contact_is_gone(api, control):
    contact = api.sync(email="gone@example.com").json()["contact"]["id"]
    response = api.delete(f"/contacts/{contact}")
    assert (response.status_code, response.json()) == (200, {})
    assert control.contacts() == []
    missing = api.delete(f"/contacts/{contact}")
    assert missing.status_code == 404 and "message" in missing.json()


def test_the_deletion_limit_refuses_deletions_past_it_this_month(api, control):
    ids = [api.sync(email=f"d{n}@example.com").json()["contact"]["id"] for n in range(3)]
    control.set_faults(deletion_limit=1)
    assert api.delete(f"/contacts/{ids[0]}").status_code == 200
    refused = api.delete(f"/contacts/{ids[1]}")
    assert (refused.status_code, refused.json()) == (422, LIMIT_REACHED)
    assert control.contact("d1@example.com") is not None
    assert api.delete("/contacts/1").status_code == 404  # a missing contact is still a 404
    assert control.stats()["contact_deletions_this_month"] == 1

    control.set_faults(deletion_limit=2)  # raising the cap counts the deletions already made
    assert api.delete(f"/contacts/{ids[1]}").status_code == 200
    assert api.delete(f"/contacts/{ids[2]}").status_code == 422
    control.set_faults(deletion_limit=None)
    assert api.delete(f"/contacts/{ids[2]}").status_code == 200


@pytest.mark.parametrize("limit, expected", [(0, 422), (None, 200)])
def test_a_zero_limit_refuses_every_deletion_and_null_none(api, control, limit, expected):
    contact = api.sync(email="z@example.com").json()["contact"]["id"]
    control.set_faults(deletion_limit=limit)
    assert api.delete(f"/contacts/{contact}").status_code == expected


def test_reset_clears_the_months_deletions(api, control):
    api.delete(f"/contacts/{api.sync(email='a@example.com').json()['contact']['id']}")
    assert control.stats()["contact_deletions_this_month"] == 1
    control.reset()
    assert control.stats()["contact_deletions_this_month"] == 0
