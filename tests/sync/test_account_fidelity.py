"""The live sync against the AC sandbox where real AC surprises clients
(docs/activecampaign.md §11): option values that differ from their labels,
tagging a contact twice, a login page for a wrong key, a 403 now and then
for a good one."""
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from badgemaker import crm_mapping as badge_maker_mapping
from badgemaker.badges.models import DIETARY_CHOICES, VOLUNTEER_CHOICES
from crm_sync.attempts import run_attempt
from crm_sync.breaker import CircuitBreaker
from crm_sync.conf import ac_account
from crm_sync.models import ContactState, SyncLog

pytestmark = pytest.mark.django_db

# The sandbox's options, as a real account holds them: value differs from label.
DIETARY_VALUES = {"vegetarian": "veg", "vegan": "vegan", "pescatarian": "pesc", "gluten_free": "gf",
                  "dairy_free": "df", "nut_allergy": "nuts", "halal": "halal", "kosher": "kosher"}
VOLUNTEER_VALUES = {"registration_desk": "reg", "setup_teardown": "setup", "speaker_support": "speakers",
                    "photography": "photo", "social_media": "social", "accessibility": "a11y"}


def sync(user):
    log = SyncLog.objects.filter(user=user, status="queued").order_by("-id").first()
    run_attempt(log.pk)
    log.refresh_from_db()
    return log


def test_every_choice_arrives_as_the_option_value_the_account_holds(sandbox_settings, make_user, confirm_badge):
    user = make_user(email="ada@example.com")
    confirm_badge(user, dietary_preferences=[key for key, _ in DIETARY_CHOICES],
                  volunteer_interests=[key for key, _ in VOLUNTEER_CHOICES])

    log = sync(user)

    assert log.status == "success", log.error_message
    fields = sandbox_settings.control.contact("ada@example.com")["fields"]
    assert fields["DIETARY_PREFERENCES"] == "||" + "||".join(DIETARY_VALUES.values()) + "||"
    assert fields["VOLUNTEER_INTERESTS"] == "||" + "||".join(VOLUNTEER_VALUES.values()) + "||"
    assert log.warnings == []


def test_a_choice_the_account_lacks_is_a_warning_and_the_other_values_still_arrive(
        sandbox_settings, make_user, confirm_badge, monkeypatch):
    # The project offers a choice the organisers never added to the AC field.
    monkeypatch.setitem(badge_maker_mapping.DIETARY_OPTIONS, "paleo", "Paleo")
    user = make_user(email="grace@example.com")
    confirm_badge(user, dietary_preferences=["vegan", "paleo", "halal"], badge_name="Grace")

    log = sync(user)

    assert log.status == "success", log.error_message
    contact = sandbox_settings.control.contact("grace@example.com")
    assert contact["fields"]["DIETARY_PREFERENCES"] == "||vegan||halal||"
    assert contact["fields"]["BADGE_NAME"] == "Grace"
    assert log.warnings == ["DIETARY_PREFERENCES: 'Paleo' is not an option of the account's field, not sent"]


def test_tagging_a_contact_that_already_has_the_tag_is_answered_200_and_counts_as_done(
        sandbox_settings, make_user, confirm_badge):
    user = make_user(email="tagged@example.com")
    confirm_badge(user)
    assert sync(user).status == "success"
    # crm_sync believes the contact has no tags yet, though AC holds them: it tags again.
    state = ContactState.objects.get(user=user)
    state.tags, state.sent = [], None
    state.save()
    user.first_name = "Changed"
    user.save()

    log = sync(user)

    assert log.status == "success", log.error_message
    tag_calls = [request for request in log.requests if request["path"] == "/api/3/contactTags"]
    assert tag_calls and {request["status"] for request in tag_calls} == {200}
    assert sandbox_settings.control.stats()["duplicate_tag_attach"] == len(tag_calls)
    assert sorted(sandbox_settings.control.contact("tagged@example.com")["tags"]) == ["badge-maker",
                                                                                      "event:pycon-2026"]


def test_a_login_page_for_a_key_is_configuration_in_the_row_the_status_command_and_the_dashboard(
        sandbox_settings, make_user, confirm_badge, admin_client):
    sandbox_settings.control.set_faults(login_page=True)
    user = make_user(email="locked@example.com")
    confirm_badge(user)

    log = sync(user)

    assert log.status == "queued" and log.attempt == 1  # waits for the key; no attempt spent
    assert "circuit breaker open (configuration)" in log.error_message
    assert "HTML page" in log.error_message and "API key is wrong or expired" in log.error_message
    assert CircuitBreaker(ac_account()[0]).state()["reason"] == "configuration"
    out = StringIO()
    call_command("crm_sync_status", stdout=out)
    assert "OPEN (configuration)" in out.getvalue()
    page = admin_client.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()
    assert "Open (configuration)" in page
    assert sandbox_settings.api_key not in log.error_message + out.getvalue() + page


def test_one_intermittent_403_leaves_the_breaker_closed_and_the_sync_succeeds(
        sandbox_settings, make_user, confirm_badge):
    sandbox_settings.control.set_faults(forbidden_next=1)
    user = make_user(email="lucky@example.com")
    confirm_badge(user)

    log = sync(user)

    assert log.status == "success", log.error_message
    assert not CircuitBreaker(ac_account()[0]).is_open()
    statuses = [request["status"] for request in log.requests]
    refused = statuses.index(403)
    assert statuses.count(403) == 1 and statuses[refused + 1] < 300
    assert log.requests[refused + 1]["path"] == log.requests[refused]["path"]  # the same request, once more
    assert sandbox_settings.control.contact("lucky@example.com") is not None
