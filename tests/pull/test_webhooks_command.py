"""`manage.py crm_webhooks register|status|remove` against the AC sandbox:
registering twice leaves one webhook, without the `api` source, on our list;
one registered otherwise is replaced, as is one with a rotated-out token;
another receiver's webhook is left alone; status shows the token masked;
remove removes it. The token is never printed."""
import secrets
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db
RECEIVER = "http://127.0.0.1:9/crm/hooks/"   # nothing listens: these tests fire no event


@pytest.fixture
def tokens():
    return [secrets.token_urlsafe(32), secrets.token_urlsafe(32)]


@pytest.fixture
def account(sandbox_settings, settings, tokens):
    """The sandbox, with crm_sync's receiver at RECEIVER and the first token configured."""
    settings.CRM_SYNC = {**settings.CRM_SYNC, "WEBHOOK_TOKENS": tokens[:1], "WEBHOOK_URL": RECEIVER}
    return sandbox_settings


def api(sandbox, method, path, **kwargs):
    answer = requests.request(method, sandbox.api_url + path, headers={"Api-Token": sandbox.api_key}, timeout=5,
                              **kwargs)
    answer.raise_for_status()
    return answer.json()


def webhooks_in(sandbox):
    """The sandbox's webhooks as its API gives them (full URLs)."""
    return api(sandbox, "GET", "/webhooks")["webhooks"]


def our_list_id(sandbox):
    return next(item["id"] for item in api(sandbox, "GET", "/lists", params={"limit": 100})["lists"]
                if item["stringid"] == "badge-maker-attendees")


def run(*args):
    out = StringIO()
    call_command("crm_webhooks", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_register_twice_leaves_one_webhook_without_the_api_source(account, tokens):
    first = run("register")
    second = run("register")

    (webhook,) = webhooks_in(account)
    assert webhook["url"] == f"{RECEIVER}{tokens[0]}/"
    assert webhook["name"] == "crm_sync"
    assert sorted(webhook["events"]) == ["bounce", "subscribe", "unsubscribe"]
    assert sorted(webhook["sources"]) == ["admin", "public", "system"]
    assert webhook["listid"] == our_list_id(account)
    assert f"Registered webhook {webhook['id']}." in first
    assert f"Already registered as wanted: webhook {webhook['id']}." in second
    assert tokens[0] not in first + second


def test_a_webhook_registered_otherwise_is_replaced(account, tokens):
    api(account, "POST", "/webhooks", json={"webhook": {
        "name": "crm_sync", "url": f"{RECEIVER}{tokens[0]}/", "events": ["unsubscribe"],
        "sources": ["public", "admin", "api", "system"], "listid": 0}})
    old_id = webhooks_in(account)[0]["id"]

    out = run("register")

    (webhook,) = webhooks_in(account)
    assert "api" not in webhook["sources"] and sorted(webhook["events"]) == ["bounce", "subscribe", "unsubscribe"]
    assert f"Removed the webhooks it replaces: {old_id}." in out


def test_after_a_token_rotation_register_moves_the_webhook_to_the_new_first_token(account, settings, tokens):
    run("register")
    settings.CRM_SYNC = {**settings.CRM_SYNC, "WEBHOOK_TOKENS": [tokens[1], tokens[0]]}

    with pytest.raises(CommandError, match="not as `crm_webhooks register` makes it"):
        run("status")
    run("register")

    (webhook,) = webhooks_in(account)
    assert webhook["url"] == f"{RECEIVER}{tokens[1]}/"


def test_another_receivers_webhook_is_left_alone(account, tokens):
    other = "http://127.0.0.1:9/staging/hooks/" + secrets.token_urlsafe(32) + "/"
    api(account, "POST", "/webhooks", json={"webhook": {
        "name": "crm_sync", "url": other, "events": ["unsubscribe"], "sources": ["public"]}})

    run("register")
    run("remove")

    assert [webhook["url"] for webhook in webhooks_in(account)] == [other]


def test_status_shows_what_it_listens_to_with_the_token_masked(account, tokens):
    run("register")

    out = run("status")

    assert f"URL:     {RECEIVER}{tokens[0][:4]}…/" in out
    assert "events:  unsubscribe, subscribe, bounce" in out
    assert "sources: public, admin, system" in out
    assert "Registered as wanted." in out
    assert tokens[0] not in out and tokens[0][:5] not in out


def test_status_without_a_webhook_says_to_register_and_fails(account, tokens):
    with pytest.raises(CommandError, match="run `manage.py crm_webhooks register`") as raised:
        run("status")

    assert tokens[0] not in str(raised.value)


def test_status_flags_a_webhook_that_hears_crm_syncs_own_writes(account, tokens):
    api(account, "POST", "/webhooks", json={"webhook": {
        "name": "crm_sync", "url": f"{RECEIVER}{tokens[0]}/", "events": ["unsubscribe", "subscribe", "bounce"],
        "sources": ["public", "admin", "api", "system"], "listid": our_list_id(account)}})
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("crm_webhooks", "status", stdout=out)

    assert "listens to the api source: crm_sync would hear its own writes" in out.getvalue()


def test_remove_removes_it(account, tokens):
    run("register")

    out = run("remove")

    assert webhooks_in(account) == []
    assert out.startswith("Removed webhook ")
    assert run("remove") == "No crm_sync webhook was registered: nothing to remove.\n"
