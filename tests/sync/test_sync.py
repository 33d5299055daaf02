"""The core sync, at the HTTP boundary: what crm_sync sends to AC and what it records."""
import datetime
import json

import pytest
import requests

from crm_sync.attempts import run_attempt
from crm_sync.breaker import CircuitBreaker
from crm_sync.models import ContactState, SyncLog
from tests.fake_ac import API_KEY, BASE, FIELD_IDS, LIST_ID

pytestmark = pytest.mark.django_db


def sync(user):
    """Run the newest queued attempt for `user`, as a worker would."""
    log = SyncLog.objects.filter(user=user, status="queued").order_by("-id").first()
    assert log is not None, "no queued SyncLog row"
    run_attempt(log.pk).follow_up
    log.refresh_from_db()
    return log


def sent_contact(fake_ac):
    (_, _, body), = fake_ac.calls("POST", "/contact/sync")[-1:]
    return body["contact"]


def field_values(contact):
    by_id = {v: k for k, v in FIELD_IDS.items()}
    return {by_id[item["field"]]: item["value"] for item in contact["fieldValues"]}


def test_full_badge_sends_every_field_in_ac_format(fake_ac, make_user, make_event, confirm_badge):
    user = make_user(
        email="  Ada.Lovelace@Example.COM ", first_name="Ada", last_name="Lovelace", phone="020 7946 0018",
        date_of_birth=datetime.date(1990, 12, 10), twitter=" @ada ", instagram="ada.ig", facebook="ada.fb",
        linkedin="in/ada", tiktok="@adatok", emergency_contact_name="Charles Babbage",
        emergency_contact_phone="+44 7911 123456",
    )
    older = make_event(slug="pycon-2025", name="PyCon 2025", starts_on="2025-06-01")
    newer = make_event(slug="djangocon-2026", name="DjangoCon 2026", starts_on="2026-09-01")
    confirm_badge(user, older, badge_name="Ada 2025",
                  confirmed_at=datetime.datetime(2025, 5, 1, 9, 0, tzinfo=datetime.timezone.utc))
    confirm_badge(user, newer, badge_name="Countess Ada", dietary_preferences=["vegan", "gluten_free"],
                  volunteer_interests=["photography", "registration_desk"], dietary_requirements="No peanuts",
                  profile_image="badges/ada.png",
                  confirmed_at=datetime.datetime(2026, 11, 26, 23, 30, tzinfo=datetime.timezone.utc))

    log = sync(user)

    assert log.status == "success", log.error_message
    contact = sent_contact(fake_ac)
    assert {k: v for k, v in contact.items() if k != "fieldValues"} == {
        "email": "ada.lovelace@example.com", "firstName": "Ada", "lastName": "Lovelace", "phone": "+442079460018",
    }
    assert field_values(contact) == {
        "DATE_OF_BIRTH": "1990-12-10",
        "TWITTER": "@ada", "INSTAGRAM": "ada.ig", "FACEBOOK": "ada.fb", "LINKEDIN": "in/ada", "TIKTOK": "@adatok",
        "EMERGENCY_CONTACT_NAME": "Charles Babbage", "EMERGENCY_CONTACT_PHONE": "+447911123456",
        "BADGEMAKER_USER_ID": str(user.pk),
        "BADGE_NAME": "Countess Ada",
        "BADGE_IMAGE_URL": "https://badges.example.org/media/badges/ada.png",
        # AC's checkbox format, option values in the field's own order.
        "DIETARY_PREFERENCES": "||Vegan||Gluten-free||",
        "VOLUNTEER_INTERESTS": "||Registration desk||Photography||",
        "DIETARY_REQUIREMENTS": "No peanuts",
        "LAST_EVENT": "DjangoCon 2026",
        # 23:30 UTC on 26 November is the 26th in London.
        "LAST_BADGE_CONFIRMED": "2026-11-26",
        # Oldest event first, one per line.
        "EVENTS_ATTENDED": "PyCon 2025\nDjangoCon 2026",
    }


def test_sparse_badge_sends_no_empty_values(fake_ac, make_user, confirm_badge):
    user = make_user(email="grace@example.com", first_name="Grace", last_name="")
    confirm_badge(user, badge_name="Grace")

    assert sync(user).status == "success"

    contact = sent_contact(fake_ac)
    assert {k: v for k, v in contact.items() if k != "fieldValues"} == {"email": "grace@example.com", "firstName": "Grace"}
    assert set(field_values(contact)) == {"BADGEMAKER_USER_ID", "BADGE_NAME", "LAST_EVENT", "LAST_BADGE_CONFIRMED",
                                          "EVENTS_ATTENDED"}
    assert all(value != "" for value in field_values(contact).values())


def test_clearing_a_value_leaves_ac_alone(fake_ac, make_user, confirm_badge):
    user = make_user(phone="020 7946 0018", twitter="@ada")
    confirm_badge(user)
    sync(user)
    user.phone, user.twitter = "", ""
    user.save()

    assert sync(user).status == "success"
    contact = sent_contact(fake_ac)
    assert "phone" not in contact and "TWITTER" not in field_values(contact)


def test_latest_badge_wins_whatever_order_attempts_run_in(fake_ac, make_user, make_event, confirm_badge):
    user = make_user()
    first = make_event(slug="a", name="Event A", starts_on="2026-01-01")
    second = make_event(slug="b", name="Event B", starts_on="2026-02-01")
    confirm_badge(user, first, badge_name="Early")
    early_log = SyncLog.objects.get(user=user, status="queued")
    confirm_badge(user, second, badge_name="Late")

    run_attempt(early_log.pk).follow_up  # the older attempt runs last... or first: it reads the database as it is now
    assert field_values(sent_contact(fake_ac))["BADGE_NAME"] == "Late"
    assert sync(user).status == "skipped"  # the newer attempt finds nothing left to send
    assert len(fake_ac.calls("POST", "/contact/sync")) == 1


def test_new_person_costs_one_contact_call_tags_and_one_list_call(fake_ac, make_user, confirm_badge):
    user = make_user()
    confirm_badge(user)

    log = sync(user)

    assert log.status == "success"
    calls = [(m, p) for m, p, _ in fake_ac.calls() if not p.startswith(("/fields", "/lists", "/tags"))]
    assert calls == [("POST", "/contact/sync"), ("POST", "/contactTags"), ("POST", "/contactTags"),
                     ("POST", "/contactLists")]
    assert sorted(fake_ac.tags.values()) == ["badge-maker", "badge-maker-2019", "event:pycon-2026"]
    assert [b["contactList"] for _, _, b in fake_ac.calls("POST", "/contactLists")] == [
        {"list": LIST_ID, "contact": log.ac_contact_id, "status": 1}]
    assert log.api_calls == len(fake_ac.calls())


def test_catalog_is_read_once_for_all_workers(fake_ac, make_user, confirm_badge):
    for _ in range(3):
        user = make_user()
        confirm_badge(user)
        sync(user)
    assert len(fake_ac.calls("GET", "/fields")) == 1
    assert len(fake_ac.calls("GET", "/lists")) == 1
    assert len(fake_ac.calls("GET", "/tags")) == 2  # badge-maker and event:pycon-2026, once each


def test_person_already_in_ac_gets_one_read_of_their_tags(fake_ac, make_user, confirm_badge):
    user = make_user(email="known@example.com")
    fake_ac.contacts["321"] = "known@example.com"
    fake_ac.tags["50"] = "Badge-Maker"  # same tag, other letter case: AC compares case-insensitively
    fake_ac.contact_tags["321"] = {"50"}
    confirm_badge(user)

    assert sync(user).status == "success"
    assert len(fake_ac.calls("GET", r"/contacts/321/contactTags")) == 1
    assert [b["contactTag"]["tag"] for _, _, b in fake_ac.calls("POST", "/contactTags")] == [
        next(i for i, n in fake_ac.tags.items() if n == "event:pycon-2026")]
    assert not fake_ac.calls("POST", "/tags") or [
        b["tag"]["tag"] for _, _, b in fake_ac.calls("POST", "/tags")] == ["event:pycon-2026"]


def test_unchanged_person_makes_no_call(fake_ac, make_user, confirm_badge):
    user = make_user()
    badge = confirm_badge(user)
    sync(user)
    before = len(fake_ac.calls())
    badge.save()  # saved again, nothing changed

    log = sync(user)
    assert log.status == "skipped" and "unchanged" in log.error_message
    assert len(fake_ac.calls()) == before and log.api_calls == 0


def test_field_change_alone_costs_exactly_one_call(fake_ac, make_user, confirm_badge):
    user = make_user()
    badge = confirm_badge(user)
    sync(user)
    before = len(fake_ac.calls())
    badge.badge_name = "New name"
    badge.save()

    log = sync(user)
    assert log.status == "success" and log.api_calls == 1
    assert [(m, p) for m, p, _ in fake_ac.calls()[before:]] == [("POST", "/contact/sync")]


def test_not_opted_in_is_never_sent(fake_ac, make_user, confirm_badge):
    user = make_user(crm_opt_in=False)
    confirm_badge(user)

    log = sync(user)
    assert log.status == "skipped" and "not opted in" in log.error_message
    assert fake_ac.calls() == []


def test_withdrawal_unsubscribes_once_and_opting_in_again_resubscribes(fake_ac, make_user, confirm_badge):
    user = make_user()
    confirm_badge(user)
    contact_id = sync(user).ac_contact_id

    user.crm_opt_in = False
    user.save()
    withdrawn = sync(user)
    user.first_name = "Changed"
    user.save()
    after = sync(user)
    user.crm_opt_in = True
    user.save()
    back = sync(user)

    statuses = [b["contactList"] for _, _, b in fake_ac.calls("POST", "/contactLists")]
    assert statuses == [
        {"list": LIST_ID, "contact": contact_id, "status": 1},
        {"list": LIST_ID, "contact": contact_id, "status": 2},
        {"list": LIST_ID, "contact": contact_id, "status": 1, "sourceid": 4},
    ]
    assert withdrawn.status == "success" and after.status == "skipped" and back.status == "success"
    assert after.api_calls == 0


def test_email_change_updates_the_same_contact(fake_ac, make_user, confirm_badge):
    user = make_user(email="old@example.com")
    confirm_badge(user)
    contact_id = sync(user).ac_contact_id
    user.email = "New@Example.com"
    user.save()

    log = sync(user)
    assert log.status == "success"
    (method, path, body), = fake_ac.calls("PUT")
    assert path == f"/contacts/{contact_id}" and body["contact"]["email"] == "new@example.com"
    assert len(fake_ac.contacts) == 1 and log.ac_contact_id == contact_id


def test_email_taken_by_another_contact_is_a_conflict(fake_ac, make_user, confirm_badge):
    user = make_user(email="old@example.com")
    confirm_badge(user)
    sync(user)
    fake_ac.contacts["777"] = "someone@example.com"
    user.email = "someone@example.com"
    user.save()

    log = sync(user)
    assert (log.status, log.error_category) == ("failed", "conflict")
    assert "already exists" in log.error_message
    assert not SyncLog.objects.filter(user=user, status="queued").exists()  # not retried


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retryable_answers_schedule_a_new_attempt(fake_ac, make_user, confirm_badge, status):
    fake_ac.rsps.replace("POST", BASE + "/contact/sync", status=status, json={}, headers={"Retry-After": "0"})
    user = make_user()
    confirm_badge(user)

    log = sync(user)
    assert log.status == "failed" and log.retry_at is not None
    assert log.error_category == {429: "rate_limited", 500: "server_error", 503: "server_error"}[status]
    retry = SyncLog.objects.get(user=user, status="queued")
    assert (retry.attempt, retry.trigger, retry.not_before) == (2, log.trigger, log.retry_at)


def test_429_is_waited_out_once_in_the_client(fake_ac, make_user, confirm_badge):
    fake_ac.rsps.replace("POST", BASE + "/contact/sync", status=429, json={}, headers={"Retry-After": "0"})
    user = make_user()
    confirm_badge(user)
    log = sync(user)
    assert len(fake_ac.calls("POST", "/contact/sync")) == 2 and log.status == "failed"


def test_timeouts_and_network_errors_are_retried(fake_ac, make_user, confirm_badge):
    fake_ac.rsps.replace("POST", BASE + "/contact/sync", body=requests.ReadTimeout("read timed out"))
    user = make_user()
    confirm_badge(user)

    log = sync(user)
    assert (log.status, log.error_category) == ("failed", "network")
    assert SyncLog.objects.filter(user=user, status="queued", attempt=2).exists()


def test_a_422_fails_at_once_with_acs_reason(fake_ac, make_user, confirm_badge):
    fake_ac.rsps.replace("POST", BASE + "/contact/sync", status=422, json={"errors": [
        {"title": "Contact Email is not a valid email address", "detail": "", "code": "field_invalid",
         "source": {"pointer": "/data/attributes/email"}}]})
    user = make_user()
    confirm_badge(user)

    log = sync(user)
    assert (log.status, log.error_category) == ("failed", "validation")
    assert "Contact Email is not a valid email address" in log.error_message
    assert log.retry_at is None and not SyncLog.objects.filter(user=user, status="queued").exists()


def test_a_refused_key_opens_the_breaker_and_the_row_waits_without_spending_an_attempt(fake_ac, make_user,
                                                                                       confirm_badge):
    fake_ac.rsps.replace("GET", BASE + "/fields", status=403, json={"message": "Forbidden"})
    user = make_user()
    confirm_badge(user)

    log = sync(user)
    assert (log.status, log.attempt) == ("queued", 1) and log.not_before is not None
    assert "circuit breaker open (configuration)" in log.error_message and "API key" in log.error_message
    assert SyncLog.objects.filter(user=user).count() == 1
    state = CircuitBreaker("https://badgemaker.api-us1.com").state()
    assert (state["state"], state["reason"]) == ("open", "configuration")


def test_while_the_breaker_is_open_nothing_is_sent_and_nothing_fails(fake_ac, make_user, confirm_badge):
    CircuitBreaker("https://badgemaker.api-us1.com").open("outage", "AC down")
    user = make_user()
    confirm_badge(user)

    log = sync(user)
    assert (log.status, log.attempt, log.api_calls) == ("queued", 1, 0)
    assert fake_ac.calls() == []


def test_an_outage_opens_the_breaker_after_failures_in_a_row(fake_ac, make_user, confirm_badge, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "BREAKER_FAILURES": 2}
    fake_ac.rsps.replace("POST", BASE + "/contact/sync", status=503, json={})
    first, second = make_user(), make_user()
    confirm_badge(first)
    confirm_badge(second)

    assert sync(first).status == "failed"  # one failure: could be this request's bad luck
    waiting = sync(second)  # the second in a row opens the breaker: an outage, not this person's fault
    assert (waiting.status, waiting.attempt) == ("queued", 1)
    assert CircuitBreaker("https://badgemaker.api-us1.com").is_open()


def test_attempts_stop_after_the_limit(fake_ac, make_user, confirm_badge, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "MAX_ATTEMPTS": 2}
    fake_ac.rsps.replace("POST", BASE + "/contact/sync", status=503, json={})
    user = make_user()
    confirm_badge(user)
    sync(user)
    last = sync(user)
    assert (last.attempt, last.status, last.retry_at) == (2, "failed", None)
    assert not SyncLog.objects.filter(user=user, status="queued").exists()


def test_invalid_phone_is_left_out_with_a_warning(fake_ac, make_user, confirm_badge):
    user = make_user(phone="not a phone", emergency_contact_phone="12")
    confirm_badge(user)
    log = sync(user)
    assert log.status == "success"
    assert "phone" not in sent_contact(fake_ac)
    assert "EMERGENCY_CONTACT_PHONE" not in field_values(sent_contact(fake_ac))
    assert any("phone" in w for w in log.warnings) and any("EMERGENCY_CONTACT_PHONE" in w for w in log.warnings)


def test_api_key_never_stored_in_a_sync_log(fake_ac, make_user, confirm_badge):
    ok = make_user()
    confirm_badge(ok)
    sync(ok)
    fake_ac.rsps.replace("POST", BASE + "/contact/sync", status=403, json={"message": "Forbidden"})
    bad = make_user()
    confirm_badge(bad)
    sync(bad)

    dump = json.dumps([
        {f.name: str(getattr(row, f.name)) for f in SyncLog._meta.fields} for row in SyncLog.objects.all()
    ])
    assert SyncLog.objects.count() >= 2 and '"requests"' in dump
    for needle in (API_KEY, API_KEY[:8], API_KEY[-8:]):
        assert needle not in dump


def test_state_remembers_the_contact_per_account(fake_ac, make_user, confirm_badge):
    user = make_user()
    confirm_badge(user)
    log = sync(user)
    state = ContactState.objects.get(user=user)
    assert state.account_url == "https://badgemaker.api-us1.com"
    assert state.ac_contact_id == log.ac_contact_id and state.list_status == 1
    assert sorted(state.tags) == ["badge-maker", "event:pycon-2026"]


def test_a_2xx_without_the_contact_is_a_clear_bad_response(fake_ac, make_user, confirm_badge):
    fake_ac.rsps.replace("POST", BASE + "/contact/sync", status=200, json={})
    user = make_user()
    confirm_badge(user)
    log = sync(user)
    assert (log.status, log.error_category) == ("failed", "bad_response")
    assert "no contact id" in log.error_message and log.retry_at is not None
