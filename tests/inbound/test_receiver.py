"""The webhook receiver: the token is the lock, a delivery becomes one inbox
row, the answer comes at once, and nothing logged could rebuild a token."""
import logging
import time

import pytest
from django.http import QueryDict
from django.test import Client, override_settings

from crm_sync import inbox, publisher
from crm_sync.models import InboxEvent
from crm_sync.webhooks import parse_form
from tests.inbound.conftest import OLD_TOKEN, TOKEN, ac_form, webhook_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched():
    """Rows handed to the broker (here: kept in a list)."""
    handed = []
    with inbox.handoff(lambda event_id, countdown=None: handed.append(event_id) or True):
        yield handed


def post(client, path, form):
    return client.post(path, form)  # form-encoded, as AC posts


def test_a_delivery_is_stored_once_and_answered_200(client, webhook_settings, django_capture_on_commit_callbacks,
                                                    dispatched):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, webhook_path(), ac_form(when="2026-11-30T09:12:40-05:00"))

    assert response.status_code == 200
    event = InboxEvent.objects.get()
    assert (event.event_type, event.contact_id, event.list_id, event.email, event.initiated_from, event.source) == \
        ("unsubscribe", "42", "7", "ada@example.com", "public", "webhook")
    assert event.occurred_at.isoformat() == "2026-11-30T14:12:40+00:00"
    assert event.outcome == "pending"
    assert dispatched == [event.pk]  # handed to the worker once the row was committed, not before


def test_the_same_delivery_twice_is_one_row(client, webhook_settings):
    form = ac_form(when="2026-11-30T09:12:40-05:00")

    first, second = post(client, webhook_path(), form), post(client, webhook_path(), form)

    assert (first.status_code, second.status_code) == (200, 200)  # AC must not think the second failed
    assert InboxEvent.objects.count() == 1


def test_the_same_moment_in_another_offset_is_the_same_event(client, webhook_settings):
    post(client, webhook_path(), ac_form(when="2026-11-30T09:12:40-05:00"))
    post(client, webhook_path(), ac_form(when="2026-11-30T14:12:40+00:00"))
    post(client, webhook_path(), ac_form(when="2026-11-30T14:12:41+00:00"))  # a second later: another event

    assert InboxEvent.objects.count() == 2


def test_a_wrong_or_missing_token_is_an_unknown_url(client, webhook_settings):
    unknown = client.post("/crm/webhooks/nothing-here/", ac_form())
    wrong = post(client, webhook_path(TOKEN[:-1] + ("A" if TOKEN[-1] != "A" else "B")), ac_form())
    missing = client.post(webhook_path().rsplit("/", 2)[0] + "/", ac_form())
    longer = post(client, webhook_path(TOKEN + "x"), ac_form())

    for response in (wrong, missing, longer):
        assert response.status_code == 404
        assert response.content == unknown.content
        assert response.get("Content-Type") == unknown.get("Content-Type")
    assert InboxEvent.objects.count() == 0


def test_no_token_configured_refuses_everything(client, webhook_settings):
    with override_settings(CRM_SYNC={**webhook_settings.CRM_SYNC, "WEBHOOK_TOKENS": []}):
        response = post(client, webhook_path(), ac_form())

    assert response.status_code == 404
    assert InboxEvent.objects.count() == 0


def test_the_token_being_rotated_out_still_works(client, webhook_settings):
    response = post(client, webhook_path(OLD_TOKEN), ac_form())

    assert response.status_code == 200
    assert InboxEvent.objects.count() == 1


def test_a_body_that_is_no_event_is_refused_with_400_never_410(client, webhook_settings):
    response = client.post(webhook_path(), {"contact[email]": "ada@example.com"})
    as_json = client.post(webhook_path(), '{"type": "unsubscribe"}', content_type="application/json")

    assert (response.status_code, as_json.status_code) == (400, 400)
    assert InboxEvent.objects.count() == 0


def test_only_post(client, webhook_settings):
    response = client.get(webhook_path())

    assert response.status_code == 405
    assert InboxEvent.objects.count() == 0


def test_no_csrf_token_needed(webhook_settings):
    response = Client(enforce_csrf_checks=True).post(webhook_path(), ac_form())

    assert response.status_code == 200


def test_the_form_body_is_stored_as_nested_data(client, webhook_settings):
    post(client, webhook_path(), ac_form(**{"contact[fields][12]": "vegan", "contact[fields][13]": "@ada"}))

    payload = InboxEvent.objects.get().payload
    assert payload["contact"]["email"] == "ada@example.com"
    assert payload["contact"]["fields"] == {"12": "vegan", "13": "@ada"}
    assert payload["contact"]["tags"] == "badge-maker, event:pycon-2026"  # one string, as AC sends it
    assert payload["unsubscribe"] == {"reason": "Too many emails"}
    assert payload["type"] == "unsubscribe"


def test_parse_form_keeps_repeated_keys_and_clashes():
    parsed = parse_form(QueryDict("a=1&a=2&b[]=x&c=plain&c[d]=nested&e[f][g]=deep"))

    assert parsed == {"a": ["1", "2"], "b": ["x"], "c": {"": "plain", "d": "nested"}, "e": {"f": {"g": "deep"}}}


def test_nothing_logged_holds_a_token(client, webhook_settings, caplog, settings):
    settings.DEBUG = False
    caplog.set_level(logging.DEBUG)

    post(client, webhook_path(), ac_form())                          # accepted
    post(client, webhook_path(OLD_TOKEN), ac_form(when="2026-01-01T00:00:00+00:00"))  # the old token
    client.post(webhook_path(), {"nothing": "here"})                   # 400: Django logs its path
    client.get(webhook_path())                                         # 405: likewise
    post(client, webhook_path(TOKEN[:30]), ac_form())                  # 404: a near guess

    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "Bad Request" in caplog.text and "Not Found" in caplog.text  # the lines are there …
    assert "<token>" in caplog.text                                   # … with the token hidden
    assert TOKEN not in logged and OLD_TOKEN not in logged and TOKEN[:30] not in logged


def test_the_answer_does_not_wait_for_a_dead_broker(client, webhook_settings, monkeypatch,
                                                    django_capture_on_commit_callbacks):
    """A broker that never answers: the publish is abandoned after a second
    and the row waits for the sweep."""
    monkeypatch.setattr(inbox.publisher, "down_until", 0.0)
    monkeypatch.setattr(inbox.publisher, "_publish", lambda event_id, countdown: time.sleep(5))
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, webhook_path(), ac_form())

    assert response.status_code == 200
    assert time.monotonic() - started < publisher.PUBLISH_TIMEOUT_SECONDS + 1.0
    assert InboxEvent.objects.get().outcome == "pending"
