"""Webhooks: registering them, what the sandbox posts and when, its faults, and the page's buttons.

A small HTTP server in the test receives the deliveries over real sockets,
as crm_sync's receiver would.
"""

import datetime
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from crm_sync.sandbox import webhook_sender
from crm_sync.sandbox.webhooks import EVENTS, masked_url

TOKEN = "Tk9pQ2hvb3NlQVJlYWxseUxvbmdUb2tlbkhlcmU"
OUR_LIST = "badge-maker-attendees"


class Receiver:
    """Records every POST it gets (path, content type, form fields); answers ``status`` after ``delay``."""

    def __init__(self):
        self.posts = []
        self.status = 200
        self.delay = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(receiver.delay)
                receiver.posts.append({
                    "path": self.path, "content_type": self.headers.get("Content-Type"),
                    "form": dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)),
                    "at": time.time()})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, token=TOKEN):
        return f"http://127.0.0.1:{self.server.server_address[1]}/crm/webhooks/{token}/"

    def forms(self):
        return [post["form"] for post in self.posts]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def register(api, url, events=("subscribe", "unsubscribe", "bounce"), sources=("public", "admin", "system"),
             listid=0, name="Badge Maker"):
    response = api.post("/webhooks", json={"webhook": {
        "name": name, "url": url, "events": list(events), "sources": list(sources), "listid": listid}})
    assert response.status_code == 201, response.text
    return response.json()["webhook"]


def subscribed_contact(api, catalog, email="jane@example.com", **attributes):
    """A contact subscribed to our list through the API (before any webhook exists, so nothing fires)."""
    contact = api.sync(email=email, **attributes).json()["contact"]
    api.post("/contactLists", json={"contactList": {
        "contact": contact["id"], "list": catalog.list(OUR_LIST)["id"], "status": 1}})
    return contact


def membership(api, contact_id, list_id):
    rows = api.get(f"/contacts/{contact_id}/contactLists").json()["contactLists"]
    return next(row for row in rows if row["list"] == list_id)


# -- registering ---------------------------------------------------------------


def test_registering_answers_201_with_acs_shape_and_the_webhook_can_be_read_listed_and_deleted(api):
    created = register(api, "https://badges.example.org/crm/webhooks/x/", listid=0)
    assert set(created) == {"cdate", "listid", "name", "url", "events", "sources", "links", "id"}
    assert created["listid"] == "0" and isinstance(created["id"], str) and created["links"] == []
    assert created["events"] == ["subscribe", "unsubscribe", "bounce"]
    assert datetime.datetime.fromisoformat(created["cdate"]).utcoffset() is not None

    assert api.get(f"/webhooks/{created['id']}").json() == {"webhook": created}
    assert api.get("/webhooks").json() == {"webhooks": [created], "meta": {"total": "1"}}
    assert api.delete(f"/webhooks/{created['id']}").json() == {}
    assert api.get(f"/webhooks/{created['id']}").status_code == 404
    assert api.delete(f"/webhooks/{created['id']}").status_code == 404
    assert api.get("/webhooks").json()["meta"]["total"] == "0"


def test_registering_the_same_url_twice_makes_two_webhooks(api):
    first = register(api, "https://badges.example.org/hook/")
    second = register(api, "https://badges.example.org/hook/")
    assert first["id"] != second["id"]
    assert api.get("/webhooks").json()["meta"]["total"] == "2"


def test_list_filters_match_exactly_and_bare_parameters_are_ignored(api, catalog):
    our_list = catalog.list(OUR_LIST)["id"]
    register(api, "https://a.example.org/hook/", name="A")
    wanted = register(api, "https://b.example.org/hook/", name="B", listid=our_list)
    assert api.get("/webhooks", params={"filters[url]": "https://b.example.org/hook/"}).json()["webhooks"] == [wanted]
    assert api.get("/webhooks", params={"filters[name]": "B"}).json()["webhooks"] == [wanted]
    assert api.get("/webhooks", params={"filters[listid]": our_list}).json()["webhooks"] == [wanted]
    assert api.get("/webhooks", params={"filters[url]": "https://b.example.org/"}).json()["meta"]["total"] == "0"
    assert api.get("/webhooks", params={"url": "https://b.example.org/hook/"}).json()["meta"]["total"] == "2"


@pytest.mark.parametrize("change, pointer, code", [
    ({"name": None}, "name", "field_missing"),
    ({"url": ""}, "url", "field_missing"),
    ({"events": []}, "events", "field_missing"),
    ({"sources": None}, "sources", "field_missing"),
    ({"events": ["unsubscribe", "unsubscribed"]}, "events", "field_invalid"),
    ({"sources": ["public", "contact"]}, "sources", "field_invalid"),
    ({"url": "http://badges.example.org/hook/"}, "url", "field_invalid"),
    ({"url": "https://badges.example.org:8443/hook/"}, "url", "field_invalid"),
    ({"url": "ftp://127.0.0.1/hook/"}, "url", "field_invalid"),
    ({"listid": 999999999}, "listid", "related_missing"),
])
def test_a_bad_webhook_is_422_naming_the_attribute_and_nothing_is_registered(api, change, pointer, code):
    webhook = {"name": "n", "url": "https://badges.example.org/hook/", "events": ["unsubscribe"],
               "sources": ["public"], **change}
    response = api.post("/webhooks", json={"webhook": webhook})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["source"]["pointer"], error["code"]) == (f"/data/attributes/{pointer}", code)
    assert api.get("/webhooks").json()["meta"]["total"] == "0"


def test_plain_http_is_accepted_to_loopback_and_https_on_port_443(api):
    for url in ("http://127.0.0.1:8000/hook/", "http://localhost:8000/hook/", "http://[::1]:8000/hook/",
                "https://badges.example.org:443/hook/"):
        register(api, url)


def test_the_event_names_are_acs(api):
    body = api.get("/webhook/events").json()
    assert body["webhookEvents"] == list(EVENTS) and body["meta"]["total"] == 25
    assert {"subscribe", "unsubscribe", "bounce", "update"} <= set(EVENTS)


# -- what is delivered -----------------------------------------------------------


def test_an_unsubscribe_posts_acs_form_to_the_webhook(api, control, catalog, receiver):
    contact = subscribed_contact(api, catalog, firstName="Jane", lastName="Doe", phone="+447700900123")
    for name in ("Speaker 2026", "Volunteer 2026"):
        tag = api.post("/tags", json={"tag": {"tag": name}}).json()["tag"]["id"]
        api.post("/contactTags", json={"contactTag": {"contact": contact["id"], "tag": tag}})
    our_list = catalog.list(OUR_LIST)["id"]
    register(api, receiver.url())

    answer = control.unsubscribe("JANE@example.com", reason="Too many emails")
    [delivery] = control.wait_for_deliveries(1)

    [post] = receiver.posts
    assert post["path"] == f"/crm/webhooks/{TOKEN}/"
    assert post["content_type"] == "application/x-www-form-urlencoded"
    changed_at = membership(api, contact["id"], our_list)["udate"]
    assert post["form"] == {
        "type": "unsubscribe", "date_time": changed_at, "initiated_from": "public", "initiated_by": "public",
        "list": our_list, "contact[id]": contact["id"], "contact[email]": "jane@example.com",
        "contact[first_name]": "Jane", "contact[last_name]": "Doe", "contact[phone]": "+447700900123",
        "contact[tags]": "Speaker 2026, Volunteer 2026", "unsubscribe[reason]": "Too many emails"}
    assert datetime.datetime.fromisoformat(changed_at).utcoffset() is not None
    assert answer["changes"] == [{"list": OUR_LIST, "status": 2, "date_time": changed_at}]
    assert control.contact("jane@example.com")["lists"] == {OUR_LIST: 2}
    assert (delivery["type"], delivery["email"], delivery["initiated_from"], delivery["status"],
            delivery["outcome"], delivery["list"]) == ("unsubscribe", "jane@example.com", "public", 200,
                                                       "delivered", our_list)


def test_subscribe_and_bounce_fire_their_events(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    control.unsubscribe("jane@example.com")
    control.subscribe("jane@example.com")
    control.bounce("jane@example.com")
    control.wait_for_deliveries(3)
    assert [(f["type"], f["initiated_from"]) for f in receiver.forms()] == [
        ("unsubscribe", "public"), ("subscribe", "public"), ("bounce", "system")]
    assert receiver.forms()[2]["bounce[type]"] == "hard"
    assert "unsubscribe[reason]" not in receiver.forms()[1]
    assert control.contact("jane@example.com")["lists"] == {OUR_LIST: 1}


def test_an_action_that_changes_nothing_fires_nothing(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    control.subscribe("jane@example.com")  # already subscribed
    control.unsubscribe("jane@example.com")
    assert control.unsubscribe("jane@example.com")["changes"] == []
    control.wait_for_deliveries(1)
    time.sleep(0.2)
    assert [f["type"] for f in receiver.forms()] == ["unsubscribe"]


def test_subscribing_to_a_named_list_joins_it(api, control, catalog, receiver):
    api.sync(email="new@example.com")
    register(api, receiver.url())
    control.subscribe("new@example.com", list_stringid=OUR_LIST)
    control.wait_for_deliveries(1)
    assert receiver.forms()[0]["list"] == catalog.list(OUR_LIST)["id"]
    assert control.contact("new@example.com")["lists"] == {OUR_LIST: 1}


def test_control_actions_refuse_unknown_contacts_lists_and_keys(api, ac_sandbox, control, catalog):
    subscribed_contact(api, catalog)
    base = ac_sandbox.control_url + "/_sandbox"
    assert requests.post(base + "/unsubscribe", json={"email": "nobody@example.com"}, timeout=5).status_code == 404
    assert requests.post(base + "/unsubscribe", json={"email": "jane@example.com", "list": "nope"},
                         timeout=5).status_code == 404
    assert requests.post(base + "/unsubscribe", json={"email": "jane@example.com", "why": "x"},
                         timeout=5).status_code == 400
    assert requests.post(base + "/bounce", json={}, timeout=5).status_code == 400
    assert control.contact("jane@example.com")["lists"] == {OUR_LIST: 1}


def test_a_webhook_hears_only_its_events_sources_and_list(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    other_list = catalog.list("badge-maker-attendees-old")["id"]
    register(api, receiver.url("unsubscribes-only"), events=["unsubscribe"])
    register(api, receiver.url("system-only"), sources=["system"])
    register(api, receiver.url("other-list"), listid=other_list)
    control.subscribe("jane@example.com")  # no change: nothing
    control.unsubscribe("jane@example.com")
    control.subscribe("jane@example.com")
    control.wait_for_deliveries(1)
    time.sleep(0.2)
    assert [(p["path"], p["form"]["type"]) for p in receiver.posts] == [
        ("/crm/webhooks/unsubscribes-only/", "unsubscribe")]


def test_an_api_list_change_reaches_admin_webhooks_as_admin_by_acs_bug(api, control, catalog, receiver):
    contact = subscribed_contact(api, catalog)
    our_list = catalog.list(OUR_LIST)["id"]
    register(api, receiver.url("admin"), sources=["public", "admin", "system"])
    register(api, receiver.url("api"), sources=["api"])
    register(api, receiver.url("public"), sources=["public"])

    change = {"contactList": {"contact": contact["id"], "list": our_list, "status": 2}}
    assert api.post("/contactLists", json=change).status_code == 200
    assert api.post("/contactLists", json=change).status_code == 200  # same status again: no change, no event
    control.wait_for_deliveries(2)
    time.sleep(0.2)

    heard = {post["path"]: post["form"] for post in receiver.posts}
    assert set(heard) == {"/crm/webhooks/admin/", "/crm/webhooks/api/"}
    assert heard["/crm/webhooks/admin/"]["initiated_from"] == "admin"
    assert heard["/crm/webhooks/api/"]["initiated_from"] == "api"
    assert heard["/crm/webhooks/admin/"]["type"] == "unsubscribe"
    assert heard["/crm/webhooks/admin/"]["date_time"] == membership(api, contact["id"], our_list)["udate"]


def test_a_refused_write_fires_nothing(api, control, catalog, receiver):
    contact = subscribed_contact(api, catalog)
    register(api, receiver.url())
    response = api.post("/contactLists", json={"contactList": {"contact": contact["id"], "list": 1, "status": 2}})
    assert response.status_code == 404
    time.sleep(0.2)
    assert receiver.posts == [] and control.webhook_deliveries() == []


# -- AC's delivery rules -----------------------------------------------------------


def test_a_410_switches_the_webhook_off_for_good(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    hook = register(api, receiver.url())
    receiver.status = 410
    control.unsubscribe("jane@example.com")
    control.wait_for_deliveries(1)
    assert control.webhooks()[0]["active"] is False
    receiver.status = 200
    control.subscribe("jane@example.com")
    time.sleep(0.3)
    assert len(receiver.posts) == 1
    assert [d["status"] for d in control.webhook_deliveries()] == [410]
    assert api.get(f"/webhooks/{hook['id']}").status_code == 200  # still there; delete and recreate to revive


def test_a_slow_receiver_is_abandoned_and_never_retried(api, control, catalog, receiver, monkeypatch):
    monkeypatch.setattr(webhook_sender, "DELIVERY_TIMEOUT_SECONDS", 0.3)
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    receiver.delay = 1
    control.unsubscribe("jane@example.com")
    [delivery] = control.wait_for_deliveries(1)
    assert (delivery["outcome"], delivery["status"]) == ("failed", None)
    assert "no answer" in delivery["error"]
    time.sleep(1.2)
    assert len(control.webhook_deliveries()) == 1


def test_an_unreachable_receiver_fails_once(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    url = receiver.url()
    receiver.close()
    register(api, url)
    control.unsubscribe("jane@example.com")
    [delivery] = control.wait_for_deliveries(1)
    assert delivery["outcome"] == "failed" and delivery["status"] is None and delivery["error"]


def test_a_redirect_is_not_followed(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    receiver.status = 302
    control.unsubscribe("jane@example.com")
    [delivery] = control.wait_for_deliveries(1)
    assert delivery["status"] == 302 and len(receiver.posts) == 1


# -- faults ------------------------------------------------------------------------


def test_webhook_drop_sends_nothing_and_records_it(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    control.set_faults(webhook_drop=True)
    control.unsubscribe("jane@example.com")
    [delivery] = control.wait_for_deliveries(1)
    time.sleep(0.2)
    assert receiver.posts == []
    assert (delivery["outcome"], delivery["faults"]) == ("dropped", ["webhook_drop"])
    assert control.contact("jane@example.com")["lists"] == {OUR_LIST: 2}  # the change itself happened


def test_webhook_duplicate_sends_each_delivery_twice(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    control.set_faults(webhook_duplicate=True)
    control.unsubscribe("jane@example.com")
    deliveries = control.wait_for_deliveries(2)
    assert len(receiver.posts) == 2 and receiver.forms()[0] == receiver.forms()[1]
    assert [d["event"] for d in deliveries] == [deliveries[0]["event"]] * 2


def test_webhook_delay_seconds_delivers_late(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    control.set_faults(webhook_delay_seconds=0.8)
    started = time.time()
    control.unsubscribe("jane@example.com")
    time.sleep(0.4)
    assert receiver.posts == []
    [delivery] = control.wait_for_deliveries(1)
    assert receiver.posts[0]["at"] - started >= 0.8
    assert delivery["sent_at"] - delivery["queued_at"] >= 0.8


def test_webhook_reverse_order_holds_until_flushed_then_sends_newest_first(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    control.set_faults(webhook_reverse_order=True)
    control.unsubscribe("jane@example.com")
    time.sleep(1.05)  # the second change gets a later date_time
    control.subscribe("jane@example.com")
    time.sleep(0.2)
    assert receiver.posts == []
    assert [d["outcome"] for d in control.webhook_deliveries()] == ["held", "held"]
    assert control.flush_webhooks() == 2
    control.wait_for_deliveries(2)
    assert [f["type"] for f in receiver.forms()] == ["subscribe", "unsubscribe"]
    assert receiver.forms()[0]["date_time"] > receiver.forms()[1]["date_time"]
    assert control.flush_webhooks() == 0


def test_webhook_faults_are_validated(ac_sandbox, control):
    for body in ({"webhook_drop": 1}, {"webhook_delay_seconds": -1}, {"webhook_reverse_order": "yes"},
                 {"deletion_limit": -1}, {"deletion_limit": 1.5}):
        response = requests.patch(ac_sandbox.control_url + "/_sandbox/faults", json=body, timeout=5)
        assert response.status_code == 400, body
    assert control.set_faults(deletion_limit=None)["deletion_limit"] is None


def test_reset_forgets_webhooks_deliveries_and_held_ones(api, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    control.set_faults(webhook_reverse_order=True)
    control.unsubscribe("jane@example.com")
    control.reset()
    assert control.webhook_deliveries() == [] and control.webhooks() == []
    assert control.flush_webhooks() == 0
    time.sleep(0.2)
    assert receiver.posts == []


# -- the secret in the URL ----------------------------------------------------------


def test_masked_url_never_shows_the_token():
    assert masked_url(f"https://badges.example.org/crm/webhooks/{TOKEN}/") == \
        "https://badges.example.org/crm/webhooks/Tk9p…/"
    assert masked_url("https://user:pass@badges.example.org/hook?token=secret") == "https://…@badges.example.org/…?…"
    assert masked_url("http://127.0.0.1:8000/hook/short/") == "http://127.0.0.1:8000/hook/…/"


def test_no_view_of_the_sandbox_shows_the_whole_url(api, ac_sandbox, control, catalog, receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    api.get("/webhooks", params={"filters[url]": receiver.url()})
    control.unsubscribe("jane@example.com")
    control.wait_for_deliveries(1)
    views = [requests.get(ac_sandbox.url + "/", timeout=5).text, str(control.webhook_deliveries()),
             str(control.webhooks()), str(control.log())]
    assert all(TOKEN not in view for view in views)
    assert f"/crm/webhooks/{TOKEN[:4]}…/" in views[0]


# -- the page's buttons -------------------------------------------------------------


def test_the_pages_unsubscribe_button_unsubscribes_and_fires_the_webhook(api, ac_sandbox, control, catalog,
                                                                        receiver):
    subscribed_contact(api, catalog)
    register(api, receiver.url())
    page = requests.get(ac_sandbox.url + "/", timeout=5).text
    assert 'action="/_sandbox/unsubscribe"' in page and ">Unsubscribe</button>" in page

    answer = requests.post(ac_sandbox.url + "/_sandbox/unsubscribe", timeout=5,
                           data={"email": "jane@example.com", "reason": "Not interested"})
    assert answer.status_code == 200 and answer.history[0].status_code == 303  # followed back to the page
    assert f"{OUR_LIST}: unsubscribed" in answer.text and ">Subscribe again</button>" in answer.text
    control.wait_for_deliveries(1)
    assert receiver.forms()[0]["unsubscribe[reason]"] == "Not interested"
    assert receiver.forms()[0]["initiated_from"] == "public"


def test_the_pages_buttons_refuse_another_sites_form(api, ac_sandbox, control, catalog):
    subscribed_contact(api, catalog)
    answer = requests.post(ac_sandbox.url + "/_sandbox/unsubscribe", data={"email": "jane@example.com"},
                           headers={"Origin": "https://evil.example"}, allow_redirects=False, timeout=5)
    assert answer.status_code == 403
    assert control.contact("jane@example.com")["lists"] == {OUR_LIST: 1}
