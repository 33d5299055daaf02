"""Tags (search, create, attach, detach) and lists (find, subscribe)."""

import time

import pytest


def contact_id(api, email="t@example.com"):
    return api.sync(email=email).json()["contact"]["id"]


def create_tag(api, name):
    return api.post("/tags", json={"tag": {"tag": name, "tagType": "contact", "description": ""}})


def test_seeded_lookalike_tags_flood_the_first_page_of_a_contains_search(api):
    body = api.get("/tags", params={"search": "BADGE-maker"}).json()
    assert int(body["meta"]["total"]) > 20 and len(body["tags"]) == 20
    names = {t["tag"] for t in api.get("/tags", params={"search": "pycon", "limit": 100}).json()["tags"]}
    assert {"Event: pycon", "event:pycon-2019"} <= names


def test_exact_filter_is_exact(api):
    create_tag(api, "badge-maker")
    body = api.get("/tags", params={"filters[search][eq]": "badge-maker"}).json()
    assert [t["tag"] for t in body["tags"]] == ["badge-maker"]
    assert api.get("/tags", params={"filters[search][eq]": "Badge-Maker"}).json()["meta"]["total"] == "0"


def test_create_tag_is_201_and_duplicates_are_refused_case_insensitively(api):
    created = create_tag(api, "Speaker 2026")
    assert created.status_code == 201
    assert isinstance(created.json()["tag"]["id"], str)
    duplicate = create_tag(api, "speaker 2026")
    assert duplicate.status_code == 422
    body = duplicate.json()
    assert body["message"] == "Could not process request" and "Duplicate entry" in body["error"]


def test_tag_name_is_required_and_limited(api):
    assert create_tag(api, "").status_code == 422
    assert create_tag(api, "x" * 256).status_code == 422


def test_attach_is_201_and_attaching_twice_answers_200_with_the_existing_row(api, control):
    contact = contact_id(api)
    tag = create_tag(api, "attendee").json()["tag"]["id"]
    first = api.post("/contactTags", json={"contactTag": {"contact": contact, "tag": tag}})
    assert first.status_code == 201 and first.json()["contactTag"]["tag"] == tag
    time.sleep(1.1)  # timestamps have whole seconds: a new row would show a later cdate
    second = api.post("/contactTags", json={"contactTag": {"contact": contact, "tag": tag}})
    assert second.status_code == 200
    again, original = second.json()["contactTag"], first.json()["contactTag"]
    assert (again["id"], again["cdate"], again["contact"], again["tag"]) == (
        original["id"], original["cdate"], contact, tag)
    listed = api.get(f"/contacts/{contact}/contactTags").json()["contactTags"]
    assert [t["id"] for t in listed] == [original["id"]]
    assert control.stats()["duplicate_tag_attach"] == 1  # still counted, so a test can see it was asked twice
    assert control.contact("t@example.com")["tags"] == ["attendee"]


def test_attach_errors_use_the_status_shape(api):
    contact = contact_id(api)
    missing = api.post("/contactTags", json={"contactTag": {"tag": "1"}})
    assert missing.status_code == 422
    assert missing.json() == {"errors": [{"status": 422, "title": "Missing attribute",
                                          "source": {"pointer": "/data/attributes/contact"}}]}
    no_contact = api.post("/contactTags", json={"contactTag": {"contact": "999999999", "tag": "1"}})
    assert no_contact.status_code == 404
    assert no_contact.json() == {"errors": [{"status": 404, "title": "Not Found", "detail": "Contact not found"}]}
    no_tag = api.post("/contactTags", json={"contactTag": {"contact": contact, "tag": "999999999"}})
    assert no_tag.status_code == 404
    by_name = api.post("/contactTags", json={"contactTag": {"contact": contact, "tag": "badge-maker-2019"}})
    assert by_name.status_code == 422


def test_contact_tags_list_and_detach(api, control):
    contact = contact_id(api)
    tag = create_tag(api, "to-remove").json()["tag"]["id"]
    link = api.post("/contactTags", json={"contactTag": {"contact": contact, "tag": tag}}).json()["contactTag"]
    listed = api.get(f"/contacts/{contact}/contactTags").json()["contactTags"]
    assert [(t["id"], t["tag"]) for t in listed] == [(link["id"], tag)]
    assert api.delete(f"/contactTags/{link['id']}").status_code == 200
    gone = api.delete(f"/contactTags/{link['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"message": f"No Result found for SubscriberTag with id {link['id']}"}
    assert control.contact("t@example.com")["tags"] == []


def test_the_real_list_is_past_the_first_page_behind_lookalikes(api):
    first_page = api.get("/lists").json()
    assert len(first_page["lists"]) == 20
    assert "badge-maker-attendees" not in {item["stringid"] for item in first_page["lists"]}
    found = api.get("/lists", params={"filters[name]": "Badge Maker Attendees"}).json()["lists"]
    stringids = [item["stringid"] for item in found]
    assert "badge-maker-attendees" in stringids and stringids[0] != "badge-maker-attendees"


def test_subscribe_and_unsubscribe_through_contact_lists(api, catalog, control):
    contact = contact_id(api)
    list_id = catalog.list("badge-maker-attendees")["id"]
    response = api.post("/contactLists", json={"contactList": {"list": list_id, "contact": contact, "status": 1}})
    assert response.status_code == 200
    assert response.json()["contactList"]["status"] == 1  # a number in the POST answer (a string when read)
    assert control.contact("t@example.com")["lists"] == {"badge-maker-attendees": 1}
    api.post("/contactLists", json={"contactList": {"list": list_id, "contact": contact, "status": 2}})
    assert control.contact("t@example.com")["lists"] == {"badge-maker-attendees": 2}
    listed = api.get(f"/contacts/{contact}/contactLists").json()["contactLists"]
    assert [(m["list"], m["status"]) for m in listed] == [(list_id, "2")]


@pytest.mark.parametrize("body,status", [
    ({"contactList": {"list": "1", "status": 1}}, 422),
    ({"contactList": {"contact": "1", "status": 1}}, 422),
    ({"contactList": {"list": "1", "contact": "1", "status": 3}}, 422),
    ({"contactList": {"list": "999999999", "contact": "CONTACT", "status": 1}}, 404),
])
def test_contact_list_errors(api, body, status):
    body["contactList"] = {k: (contact_id(api) if v == "CONTACT" else v) for k, v in body["contactList"].items()}
    assert api.post("/contactLists", json=body).status_code == status


def test_tag_names_with_a_comma_are_refused(api):
    response = create_tag(api, "event:pycon, 2026")
    assert response.status_code == 422
    assert "comma" in response.json()["errors"][0]["title"]
    assert api.get("/tags", params={"search": "pycon, 2026"}).json()["meta"]["total"] == "0"


def test_subscribing_again_with_the_same_status_answers_the_existing_row(api, catalog, control):
    contact = contact_id(api)
    list_id = catalog.list("badge-maker-attendees")["id"]
    body = {"contactList": {"list": list_id, "contact": contact, "status": 1}}
    first = api.post("/contactLists", json=body).json()["contactList"]
    time.sleep(1.1)  # timestamps have whole seconds
    again = api.post("/contactLists", json=body)
    assert again.status_code == 200
    row = again.json()["contactList"]
    assert (row["id"], row["sdate"], row["udate"], row["status"]) == (first["id"], first["sdate"], first["udate"], 1)
    assert len(api.get(f"/contacts/{contact}/contactLists").json()["contactLists"]) == 1
    unsubscribed = api.post("/contactLists", json={"contactList": {**body["contactList"], "status": 2}})
    row = unsubscribed.json()["contactList"]
    assert (row["id"], row["sdate"], row["status"]) == (first["id"], first["sdate"], 2)
    assert row["udate"] != first["udate"]
    assert control.contact("t@example.com")["lists"] == {"badge-maker-attendees": 2}
