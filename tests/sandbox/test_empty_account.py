"""An empty account (no custom fields, lists or tags): a new organiser's first deploy."""

import sqlite3

import requests

from crm_sync.sandbox.server import Sandbox
from crm_sync.sandbox.store import Store

from .conftest import ApiClient
from .test_page_and_command import free_port, start_command


def totals(api):
    return [api.get(path).json()["meta"]["total"] for path in ("/fields", "/lists", "/tags")]


def test_the_empty_fixture_starts_with_no_schema_at_all(ac_sandbox_empty):
    ac_sandbox_empty.control.set_faults(rate_limit_per_second=1000)
    api = ApiClient(ac_sandbox_empty)
    assert totals(api) == ["0", "0", "0"]
    fields = api.get("/fields").json()
    assert (fields["fields"], fields["fieldOptions"], fields["fieldRels"]) == ([], [], [])
    assert ac_sandbox_empty.control.catalog() == {"fields": [], "tags": [], "lists": []}


def test_control_reset_can_empty_the_account_and_refill_it(ac_sandbox, api, control):
    control.reset(empty=True)
    control.set_faults(rate_limit_per_second=1000)
    assert totals(api) == ["0", "0", "0"]
    control.reset()
    control.set_faults(rate_limit_per_second=1000)
    assert int(totals(api)[0]) > 100


def test_reset_refuses_a_bad_empty_option(ac_sandbox, control):
    for body in ({"empty": "yes"}, {"empty": 1}, {"emtpy": True}):
        response = requests.post(ac_sandbox.control_url + "/_sandbox/reset", json=body, timeout=5)
        assert response.status_code == 400 and "error" in response.json()
    assert len(control.catalog()["fields"]) > 100


def test_the_sandbox_method_empties_it_too(ac_sandbox):
    ac_sandbox.reset(empty=True)
    assert ac_sandbox.catalog() == {"fields": [], "tags": [], "lists": []}


def test_a_whole_first_deploy_against_an_empty_account(ac_sandbox_empty):
    """Create the schema as a first deploy would, then sync someone into it."""
    ac_sandbox_empty.control.set_faults(rate_limit_per_second=1000)
    api, control = ApiClient(ac_sandbox_empty), ac_sandbox_empty.control
    field = api.post("/fields", json={"field": {"type": "checkbox", "title": "Diet", "perstag": "DIET"}})
    field_id = field.json()["field"]["id"]
    assert api.post("/fieldRels", json={"fieldRel": {"field": field_id, "relid": 0}}).status_code == 201
    options = api.post("/fieldOption/bulk", json={"fieldOptions": [
        {"field": field_id, "label": "Vegan", "value": "vegan"}, {"field": field_id, "label": "Halal", "value": "halal"}]})
    assert options.status_code == 201
    made = api.post("/lists", json={"list": {"name": "Attendees", "stringid": "attendees",
                                             "sender_url": "https://example.com", "sender_reminder": "You signed up."}})
    list_id = made.json()["list"]["id"]
    page = requests.get(ac_sandbox_empty.url + "/", timeout=5).text
    assert "Hidden in AC" in page and "attendees" in page
    assert api.post("/listGroups", json={"listGroup": {"listid": list_id, "groupid": 3}}).status_code == 201
    assert "Hidden in AC" not in requests.get(ac_sandbox_empty.url + "/", timeout=5).text
    assert api.post("/tags", json={"tag": {"tag": "badge-maker", "tagType": "contact"}}).status_code == 201
    contact = api.sync(email="first@example.com", fieldValues=[{"field": field_id, "value": "||vegan||halal||"}])
    assert contact.status_code == 201
    contact_id = contact.json()["contact"]["id"]
    api.post("/contactLists", json={"contactList": {"list": list_id, "contact": contact_id, "status": 1}})
    stored = control.contact("first@example.com")
    assert (stored["fields"], stored["lists"]) == ({"DIET": "||vegan||halal||"}, {"attendees": 1})


def test_an_empty_account_stays_empty_across_a_restart(tmp_path):
    first = Sandbox(tmp_path / "db.sqlite3", "key").start()
    first.reset(empty=True)
    first.stop()
    second = Sandbox(tmp_path / "db.sqlite3", "key").start()
    try:
        assert second.catalog() == {"fields": [], "tags": [], "lists": []}
    finally:
        second.stop()


def test_command_empty_serves_an_empty_account(tmp_path):
    port, key = free_port(), "k" * 40
    process = start_command(tmp_path, "--port", str(port), "--control-port", str(free_port()), "--empty", key=key)
    try:
        process.stdout.readline()  # the banner: the sandbox is up
        response = requests.get(f"http://127.0.0.1:{port}/api/3/fields", headers={"Api-Token": key}, timeout=5)
        assert response.json()["meta"]["total"] == "0"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_a_file_from_before_the_schema_endpoints_opens_with_its_data(tmp_path):
    """A developer's sandbox file made by an older sandbox gets the new columns on open."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE counters (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);
        INSERT INTO counters VALUES ('field', 7);
        CREATE TABLE fields (id INTEGER PRIMARY KEY, title TEXT NOT NULL, perstag TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL, ordernum INTEGER NOT NULL, cdate TEXT NOT NULL);
        INSERT INTO fields VALUES (7, 'Badge Name', 'BADGE_NAME', 'text', 1, '2026-01-01T00:00:00-06:00');
        CREATE TABLE bulk_batches (id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts TEXT NOT NULL,
            due_at REAL NOT NULL, success TEXT, failure TEXT);
    """)
    old.close()
    store = Store(path)
    try:
        with store.transaction():
            assert store.is_seeded()
            assert store.get_field(7)["visible"] == 1
            assert store.catalog()["fields"][0]["perstag"] == "BADGE_NAME"
    finally:
        store.close()
