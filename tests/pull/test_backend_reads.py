"""AC's backend reading back what the pull and the webhook commands need, at
the HTTP boundary (`responses`, no Django): a contact's status on our list,
the contacts whose status changed, and the account's webhooks
(docs/activecampaign.md §3.3, §6, §8, §9)."""
import datetime
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from crm_sync.activecampaign.backend import ActiveCampaignBackend
from crm_sync.activecampaign.client import ActiveCampaignClient
from crm_sync.errors import BadResponse, NotFound

URL = "https://acme.api-us1.com"
BASE = URL + "/api/3"
OUR_LIST = "7"
SINCE = datetime.datetime(2026, 11, 27, 16, 0, 0, 400_000, tzinfo=datetime.timezone.utc)
HOOK_URL = "https://badges.example.org/crm/webhooks/x/" + "T" * 43 + "/"


class OurList:
    """The catalog, as far as these reads use it: our list's id by stringid."""

    def list_id(self, stringid):
        assert stringid == "badge-maker-attendees"
        return int(OUR_LIST)


@pytest.fixture
def ac():
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def backend():
    client = ActiveCampaignClient(URL, "unit-test-key-" + "k" * 40)
    yield ActiveCampaignBackend(client, OurList(), "badge-maker-attendees", account_url=URL)
    client.close()


def query_of(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def membership(list_id, status):
    return {"contact": "19", "list": list_id, "status": status, "sdate": "2026-11-01T10:00:00-06:00",
            "udate": "2026-11-27T10:05:00-06:00", "id": f"19{list_id}"}


def contact(contact_id, email, udate="2026-11-27T10:05:00-06:00"):
    return {"id": str(contact_id), "email": email, "udate": udate, "cdate": "2026-01-01T00:00:00-06:00"}


# -- list_status ----------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "expected"), [("1", 1), ("2", 2), (2, 2), ("3", 3)])
def test_list_status_is_the_contacts_status_on_our_list_and_not_on_another(ac, backend, status, expected):
    ac.get(BASE + "/contacts/19/contactLists",
           json={"contactLists": [membership("6", "1"), membership(OUR_LIST, status)], "meta": {"total": "2"}})

    assert backend.list_status("19") == expected


def test_list_status_is_none_for_a_contact_not_on_our_list(ac, backend):
    ac.get(BASE + "/contacts/19/contactLists", json={"contactLists": [membership("6", "2")], "meta": {"total": "1"}})

    assert backend.list_status("19") is None


def test_list_status_of_a_contact_ac_no_longer_has_raises_not_found(ac, backend):
    ac.get(BASE + "/contacts/19/contactLists", status=404,
           json={"message": "No Result found for Subscriber with id 19"})

    with pytest.raises(NotFound):
        backend.list_status("19")


def test_a_list_status_that_is_not_a_number_is_a_bad_response_not_a_guess(ac, backend):
    ac.get(BASE + "/contacts/19/contactLists", json={"contactLists": [membership(OUR_LIST, "")]})

    with pytest.raises(BadResponse):
        backend.list_status("19")


# -- changed_list_members -------------------------------------------------------------------
def by_status(pages):
    """A callback answering `/contacts` with `pages[status]`, honouring id_greater."""

    def answer(request):
        query = query_of(request.url)
        after = int(query.get("id_greater", 0))
        found = [c for c in pages[query["status"]] if int(c["id"]) > after][: int(query["limit"])]
        body = {"contacts": found, "meta": {"total": str(len(found))}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    return answer


def test_changed_members_asks_for_our_list_each_status_and_the_time_unsubscribes_first(ac, backend):
    ac.add_callback("GET", BASE + "/contacts", callback=by_status({
        "2": [contact(31, "ada@example.com")],
        "1": [contact(32, "grace@example.com", "2026-11-27T16:30:00Z")],
    }))

    changes = list(backend.changed_list_members(SINCE))

    assert changes == [
        {"contact_id": "31", "email": "ada@example.com", "status": 2, "list_id": OUR_LIST,
         "changed_at": datetime.datetime(2026, 11, 27, 16, 5, tzinfo=datetime.timezone.utc)},
        {"contact_id": "32", "email": "grace@example.com", "status": 1, "list_id": OUR_LIST,
         "changed_at": datetime.datetime(2026, 11, 27, 16, 30, tzinfo=datetime.timezone.utc)},
    ]
    asked = [query_of(call.request.url) for call in ac.calls]
    assert [(q["listid"], q["status"], q["filters[updated_after]"]) for q in asked] == [
        (OUR_LIST, "2", "2026-11-27T16:00:00+00:00"), (OUR_LIST, "1", "2026-11-27T16:00:00+00:00")]
    assert all(q["orders[id]"] == "ASC" and q["limit"] == "100" for q in asked)


def test_contacts_ac_returns_from_before_since_are_dropped_as_a_filter_it_did_not_apply(ac, backend):
    ac.add_callback("GET", BASE + "/contacts", callback=by_status({
        "2": [contact(31, "old@example.com", "2026-11-27T09:59:59-06:00"),
              contact(33, "new@example.com", "2026-11-27T10:00:00-06:00")],
        "1": [],
    }))

    assert [change["email"] for change in backend.changed_list_members(SINCE)] == ["new@example.com"]


def test_many_changes_are_paged_by_id_so_none_is_skipped(ac, backend):
    unsubscribed = [contact(n, f"person{n}@example.com") for n in range(1, 231)]
    ac.add_callback("GET", BASE + "/contacts", callback=by_status({"2": unsubscribed, "1": []}))

    changes = list(backend.changed_list_members(SINCE))

    assert [change["contact_id"] for change in changes] == [str(n) for n in range(1, 231)]
    pages = [query for query in (query_of(call.request.url) for call in ac.calls) if query["status"] == "2"]
    assert [page.get("id_greater") for page in pages] == [None, "100", "200"]


def test_if_ac_ignores_id_greater_the_rest_is_paged_by_offset(ac, backend):
    everyone = [contact(n, f"person{n}@example.com") for n in range(1, 151)]

    def ignores_id_greater(request):
        query = query_of(request.url)
        offset = int(query.get("offset", 0))
        found = everyone[offset:offset + 100] if query["status"] == "2" else []
        return 200, {"Content-Type": "application/json"}, json.dumps({"contacts": found})

    ac.add_callback("GET", BASE + "/contacts", callback=ignores_id_greater)

    changes = list(backend.changed_list_members(SINCE))

    assert [change["contact_id"] for change in changes] == [str(n) for n in range(1, 151)]


def test_an_update_time_without_a_zone_stops_the_pull_instead_of_guessing(ac, backend):
    ac.add_callback("GET", BASE + "/contacts", callback=by_status({
        "2": [contact(31, "ada@example.com", "2026-11-27 10:05:00")], "1": []}))

    with pytest.raises(BadResponse):
        list(backend.changed_list_members(SINCE))


# -- webhooks -------------------------------------------------------------------------------
def test_webhooks_are_read_with_their_events_sources_and_list(ac, backend):
    ac.get(BASE + "/webhooks", json={"webhooks": [
        {"cdate": "2026-11-01T12:00:00-06:00", "listid": "7", "name": "crm_sync", "url": HOOK_URL,
         "events": ["unsubscribe", "subscribe"], "sources": ["public", "system"], "links": [], "id": "3"},
    ], "meta": {"total": "1"}})

    assert backend.webhooks() == [{"id": "3", "name": "crm_sync", "url": HOOK_URL,
                                   "events": ["unsubscribe", "subscribe"], "sources": ["public", "system"],
                                   "list_id": "7"}]


def test_add_webhook_posts_acs_body_and_returns_the_new_id(ac, backend):
    ac.post(BASE + "/webhooks", status=201, json={"webhook": {"id": "4", "name": "crm_sync", "url": HOOK_URL}})

    webhook_id = backend.add_webhook("crm_sync", HOOK_URL, ["unsubscribe"], ["public", "admin"], "7")

    assert webhook_id == "4"
    assert json.loads(ac.calls[0].request.body) == {"webhook": {
        "name": "crm_sync", "url": HOOK_URL, "events": ["unsubscribe"], "sources": ["public", "admin"], "listid": 7}}


def test_remove_webhook_deletes_it_and_one_already_gone_counts_as_removed(ac, backend):
    ac.delete(BASE + "/webhooks/4", json={})
    ac.delete(BASE + "/webhooks/5", status=404, json={"message": "No Result found for Webhook with id 5"})

    backend.remove_webhook("4")
    backend.remove_webhook("5")

    assert [call.request.method for call in ac.calls] == ["DELETE", "DELETE"]
