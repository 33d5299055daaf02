"""Contacts: sync upsert, create, update, delete, lookups, validation, paging."""

import concurrent.futures

import pytest

from crm_sync.sandbox.limits import ASSUMED_LIMITS
from crm_sync.sandbox.validation import email_problem

from .conftest import ApiClient


def test_sync_creates_with_201_then_updates_with_200(api):
    created = api.sync(email="jane@example.com", firstName="Jane")
    assert created.status_code == 201
    contact = created.json()["contact"]
    assert isinstance(contact["id"], str) and contact["firstName"] == "Jane"
    updated = api.sync(email="jane@example.com", lastName="Doe")
    assert updated.status_code == 200
    assert updated.json()["contact"]["id"] == contact["id"]


def test_sync_matches_email_case_insensitively(api, control):
    api.sync(email="Jane.Doe@Example.com", firstName="Jane")
    response = api.sync(email="jane.doe@EXAMPLE.COM", firstName="Janet")
    assert response.status_code == 200
    assert len(control.contacts()) == 1
    assert control.contact("JANE.DOE@example.com")["firstName"] == "Janet"


@pytest.mark.parametrize("blank", ["", None])
def test_blank_values_overwrite_and_omitted_keys_do_not(api, control, catalog, blank):
    badge = catalog.field("BADGE_NAME")["id"]
    api.sync(email="a@example.com", firstName="Ann", lastName="Lee", phone="123",
             fieldValues=[{"field": badge, "value": "Annie"}])
    api.sync(email="a@example.com", firstName=blank, fieldValues=[{"field": badge, "value": blank}])
    stored = control.contact("a@example.com")
    assert stored["firstName"] == ""
    assert stored["fields"]["BADGE_NAME"] == ""
    assert (stored["lastName"], stored["phone"]) == ("Lee", "123")


def test_create_refuses_an_existing_email_in_any_case(api):
    assert api.post("/contacts", json={"contact": {"email": "bob@example.com"}}).status_code == 201
    response = api.post("/contacts", json={"contact": {"email": "BOB@example.com"}})
    assert response.status_code == 422
    assert response.json() == {"errors": [{
        "title": "Email address already exists in the system", "detail": "", "code": "duplicate",
        "source": {"pointer": "/data/attributes/email"}}]}


def test_update_refuses_an_email_another_contact_has(api, control):
    api.sync(email="one@example.com")
    two = api.sync(email="two@example.com").json()["contact"]["id"]
    response = api.put(f"/contacts/{two}", json={"contact": {"email": "ONE@example.com"}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "duplicate"
    renamed = api.put(f"/contacts/{two}", json={"contact": {"email": "three@example.com"}})
    assert renamed.status_code == 200
    assert control.contact("three@example.com")["id"] == two


def test_unknown_contact_is_404_with_a_message(api):
    for response in (api.get("/contacts/999999999"),
                     api.put("/contacts/999999999", json={"contact": {"firstName": "x"}}),
                     api.get("/contacts/999999999/contactTags")):
        assert response.status_code == 404
        assert response.json() == {"message": "No Result found for Subscriber with id 999999999"}
    deleted = api.delete("/contacts/999999999")
    assert deleted.status_code == 404 and "message" in deleted.json()


def test_lookup_by_email_is_case_insensitive_and_total_is_a_string(api):
    api.sync(email="Case@Example.com")
    body = api.get("/contacts", params={"email": "case@example.COM"}).json()
    assert body["meta"]["total"] == "1"
    assert body["contacts"][0]["email"] == "Case@Example.com"
    assert api.get("/contacts", params={"email": "nobody@example.com"}).json()["meta"]["total"] == "0"


def test_contacts_page_at_20_by_default_and_100_at_most(api):
    for n in range(105):
        api.sync(email=f"p{n}@example.com")
    assert len(api.get("/contacts").json()["contacts"]) == 20
    page = api.get("/contacts", params={"limit": 500}).json()
    assert len(page["contacts"]) == 100 and page["meta"]["total"] == "105"
    last = api.get("/contacts", params={"limit": 100, "offset": 100}).json()["contacts"]
    assert len(last) == 5


def test_deleted_ids_are_never_reused(api):
    first = api.sync(email="gone@example.com").json()["contact"]["id"]
    assert api.delete(f"/contacts/{first}").status_code == 200
    again = api.sync(email="gone@example.com")
    assert again.status_code == 201
    assert int(again.json()["contact"]["id"]) > int(first)


def test_get_contact_sideloads_lists_and_field_values(api, catalog):
    badge = catalog.field("BADGE_NAME")["id"]
    contact_id = api.sync(email="s@example.com", fieldValues=[{"field": badge, "value": "S"}]).json()["contact"]["id"]
    body = api.get(f"/contacts/{contact_id}").json()
    assert set(body) >= {"contact", "contactLists", "fieldValues", "contactAutomations", "deals", "geoIps"}
    assert body["fieldValues"][0]["field"] == badge
    values = api.get(f"/contacts/{contact_id}/fieldValues").json()["fieldValues"]
    assert [(v["field"], v["value"]) for v in values] == [(badge, "S")]


@pytest.mark.parametrize("email", [
    "no-at-sign.example.com", "two@@example.com", "a@b@example.com", "has space@example.com",
    " lead@example.com", "@example.com", "a@example", "a@.example.com", "a..b@example.com",
    ".a@example.com", "a.@example.com", "a@example..com", "a@-example.com", "a@example.c",
    "quote'd@example.com", "ünï@example.com", "", "a@exa mple.com",
])
def test_invalid_emails_are_refused_with_422(api, email):
    response = api.sync(email=email)
    assert response.status_code == 422, email
    error = response.json()["errors"][0]
    assert error["source"]["pointer"] == "/data/attributes/email"
    assert set(error) >= {"title", "detail", "code", "source"}


@pytest.mark.parametrize("email", ["a@example.com", "first.last+tag@sub.example.co.uk", "x_y-z@ex-ample.io"])
def test_ordinary_emails_are_accepted(email):
    assert email_problem(email) is None


def test_missing_email_is_refused(api):
    assert api.sync(firstName="Nobody").status_code == 422
    assert api.post("/contact/sync", json={"email": "unwrapped@example.com"}).status_code == 422


def test_camel_case_mix_ups_are_refused(api):
    response = api.sync(email="c@example.com", first_name="Snake")
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/attributes/first_name"


@pytest.mark.parametrize("key", ["firstName", "lastName", "phone"])
def test_values_over_the_assumed_limit_are_refused(api, key):
    limit = ASSUMED_LIMITS[key]
    assert api.sync(email="l@example.com", **{key: "x" * limit}).status_code == 201
    assert api.sync(email="l@example.com", **{key: "x" * (limit + 1)}).status_code == 422


def test_email_over_the_assumed_limit_is_refused(api):
    local = "a" * 64
    domain = ".".join(["b" * 60] * 4) + ".com"  # 64 + 1 + 248 > 255
    assert api.sync(email=f"{local}@{domain}").status_code == 422


def test_malformed_json_is_400_with_an_empty_object(api):
    response = api.post("/contact/sync", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json() == {}



def test_concurrent_clients_see_consistent_state(ac_sandbox, api, control):
    def client_run(n):
        client = ApiClient(ac_sandbox)  # its own connection, like a separate worker
        return [client.sync(email=f"Shared{i % 5}@example.com", lastName=str(n)).status_code for i in range(15)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for run in pool.map(client_run, range(8)) for s in run]
    assert sorted(set(statuses)) == [200, 201]
    assert statuses.count(201) == 5  # exactly one create per email, however the threads raced
    assert len(control.contacts()) == 5


def test_sync_answer_leaves_out_field_values_when_none_were_sent(api, catalog):
    created = api.sync(email="nofields@example.com", firstName="No")
    assert created.status_code == 201 and "fieldValues" not in created.json()
    badge = catalog.field("BADGE_NAME")["id"]
    with_values = api.sync(email="nofields@example.com", fieldValues=[{"field": badge, "value": "N"}])
    assert with_values.status_code == 200
    assert [(v["field"], v["value"]) for v in with_values.json()["fieldValues"]] == [(badge, "N")]


def test_an_unsupported_email_filter_returns_every_contact(api):
    """AC ignores ``filters[email]`` (§11.1): a client must use ``email=`` and check what comes back."""
    for name in ("first", "second", "third"):
        api.sync(email=f"{name}@example.com")
    body = api.get("/contacts", params={"filters[email]": "second@example.com"}).json()
    assert body["meta"]["total"] == "3"
    assert body["contacts"][0]["email"] == "first@example.com"
