"""The issue's "Bad input" table, one row per test, end to end: typed on the
badge page, synced inline to the AC sandbox over sockets, read back from the
sandbox, the SyncLog row and the pages that show it."""
import datetime

import pytest
import requests
from django.urls import reverse

from badgemaker.badges.models import Badge
from crm_sync.mapping import LIMITS
from crm_sync.models import SyncLog
from tests.bad_input.fixtures import badge_page, confirm_and_sync, synced

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("captured_syncs")]

TYPED = {
    "first_name": "<b>Ada</b>",
    "last_name": "O'Brien'; DROP TABLE accounts_user;--",
    "twitter": "@ada 🎉👩🏽‍💻",
    "instagram": "日本語 עברית مرحبا",
    "badge_name": "<script>alert(1)</script>",
    "dietary_requirements": "<img src=x onerror=alert(1)> & \"quotes\"\nline two\ttabbed",
}


def test_html_sql_emoji_and_any_script_are_sent_as_typed_and_escaped_wherever_shown(
        sandbox_settings, event, admin_client):
    client, log, contact = synced(sandbox_settings, event, "typed@example.com", **TYPED)

    assert (log.status, log.warnings) == ("success", [])
    assert contact["firstName"] == TYPED["first_name"]
    assert contact["lastName"] == TYPED["last_name"]
    assert contact["fields"]["TWITTER"] == TYPED["twitter"]
    assert contact["fields"]["INSTAGRAM"] == TYPED["instagram"]
    assert contact["fields"]["BADGE_NAME"] == TYPED["badge_name"]
    assert contact["fields"]["DIETARY_REQUIREMENTS"] == TYPED["dietary_requirements"]

    badge = Badge.objects.get(user__email="typed@example.com")
    pages = {
        "review": client.get(reverse("badges:review", args=[event.slug])),
        "confirmed": client.get(reverse("badges:confirmed", args=[event.slug])),
        "badge page": client.get(reverse("badges:badge", args=[event.slug])),
        "admin list": admin_client.get(reverse("admin:crm_sync_synclog_changelist")),
        "admin detail": admin_client.get(reverse("admin:crm_sync_synclog_change", args=[log.pk])),
        "what changed": admin_client.get(reverse("admin:crm_sync_synclog_changes", args=[log.pk])),
        "admin badge": admin_client.get(reverse("admin:badges_badge_change", args=[badge.pk])),
        "admin user": admin_client.get(reverse("admin:accounts_user_change", args=[badge.user_id])),
    }
    sandbox_page = requests.get(sandbox_settings.url + "/", timeout=10).text
    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        assert "<script>alert(1)</script>" not in html and "<img src=x" not in html and "<b>Ada</b>" not in html, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["review"].content.decode()
    assert "<script>alert(1)</script>" not in sandbox_page and "&lt;script&gt;" in sandbox_page


def test_control_characters_other_than_tab_and_newline_are_refused_by_the_form(event):
    client, response = badge_page(event, "controls-typed@example.com", badge_name="Ada\x07 Lovelace",
                                  dietary_requirements="one\ttwo\nthree\x0bfour")

    assert response.status_code == 200
    errors = {**response.context["about_form"].errors, **response.context["badge_form"].errors}
    assert set(errors) == {"badge_name", "dietary_requirements"}
    assert "invisible control character (U+0007)" in errors["badge_name"][0]
    assert not Badge.objects.filter(user__email="controls-typed@example.com").exists()


def test_control_characters_arriving_another_way_are_stripped_with_a_warning(sandbox_settings, event):
    client, _ = badge_page(event, "controls@example.com")
    # The form refuses them; a value can still arrive through the admin or an import.
    Badge.objects.filter(user__email="controls@example.com").update(
        badge_name="Ada\x07 \x1b[1mLovelace", dietary_requirements="one\ttwo\nthree\x0bfour\x7f")
    log = confirm_and_sync(client, event, "controls@example.com")
    contact = sandbox_settings.control.contact("controls@example.com")

    assert log.status == "success"
    assert contact["fields"]["BADGE_NAME"] == "Ada [1mLovelace"
    assert contact["fields"]["DIETARY_REQUIREMENTS"] == "one\ttwo\nthreefour"
    assert log.warnings == ["BADGE_NAME: control characters removed",
                            "DIETARY_REQUIREMENTS: control characters removed"]


@pytest.mark.parametrize("field", ["badge_name", "first_name", "twitter", "dietary_requirements", "phone"])
def test_nul_is_refused_by_the_form_and_never_reaches_the_sync(sandbox_settings, event, field):
    client, response = badge_page(event, "nul@example.com", **{field: "Ada\x00Lovelace"})

    assert response.status_code == 200
    assert response.context["about_form"].errors.get(field) or response.context["badge_form"].errors.get(field)
    assert "Null characters are not allowed." in response.content.decode()
    assert not Badge.objects.filter(user__email="nul@example.com").exists()
    assert not SyncLog.objects.filter(user__email="nul@example.com").exists()


def test_nul_in_a_choice_key_is_refused_too(event):
    _, response = badge_page(event, "nulkey@example.com", dietary_preferences=["vegan\x00"])
    assert response.status_code == 200 and "dietary_preferences" in response.context["badge_form"].errors


@pytest.mark.parametrize("born, reason", [
    (datetime.date(1899, 12, 31), "before 1900"),
    (datetime.date.today() + datetime.timedelta(days=400), "in the future"),
])
def test_implausible_date_of_birth_is_not_sent_and_the_rest_syncs(sandbox_settings, event, born, reason):
    client, response = badge_page(event, "born@example.com", badge_name="Still Synced")
    person = Badge.objects.get(user__email="born@example.com").user
    # The form refuses a future date; one can still arrive through the admin or an import.
    type(person).objects.filter(pk=person.pk).update(date_of_birth=born)
    log = confirm_and_sync(client, event, "born@example.com")
    contact = sandbox_settings.control.contact("born@example.com")

    assert log.status == "success"
    assert "DATE_OF_BIRTH" not in contact["fields"]
    assert contact["fields"]["BADGE_NAME"] == "Still Synced"
    assert log.warnings == [f"DATE_OF_BIRTH: not sent ({reason})"]


def test_the_form_refuses_a_future_date_of_birth(event):
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    _, response = badge_page(event, "future@example.com", date_of_birth=tomorrow)
    assert response.status_code == 200 and "date_of_birth" in response.context["about_form"].errors


@pytest.mark.parametrize("stored, sent", [(["vegan", "paleo"], "||vegan||"), (["paleo", "<i>x</i>"], None)])
def test_unknown_choice_keys_are_dropped_and_the_field_omitted_if_nothing_remains(sandbox_settings, event,
                                                                                 stored, sent):
    client, _ = badge_page(event, "choices@example.com")
    # A choice withdrawn after it was picked: the form no longer offers it, the row still holds it.
    Badge.objects.filter(user__email="choices@example.com").update(dietary_preferences=stored)
    log = confirm_and_sync(client, event, "choices@example.com")
    contact = sandbox_settings.control.contact("choices@example.com")

    assert log.status == "success"
    assert contact["fields"].get("DIETARY_PREFERENCES") == sent
    unknown = ", ".join(key for key in stored if key != "vegan")
    assert log.warnings == [f"DIETARY_PREFERENCES: unknown choice {unknown} dropped"]


def test_a_value_longer_than_ac_accepts_is_refused_by_the_form(event):
    limit = LIMITS["textarea"]
    _, response = badge_page(event, "long-typed@example.com", dietary_requirements="x" * (limit + 1))

    assert response.status_code == 200
    assert response.context["badge_form"].errors["dietary_requirements"] == [
        f"Please shorten this to {limit:,} characters or fewer (it has {limit + 1:,})."]


def test_a_value_longer_than_ac_accepts_arriving_another_way_is_cut_at_a_grapheme_boundary(sandbox_settings, event):
    limit = LIMITS["textarea"]
    family = "👨‍👩‍👧"  # one grapheme, five code points: it straddles the limit
    stored = "x" * (limit - 2) + family + "tail"
    client, _ = badge_page(event, "long@example.com")
    Badge.objects.filter(user__email="long@example.com").update(dietary_requirements=stored)
    log = confirm_and_sync(client, event, "long@example.com")
    contact = sandbox_settings.control.contact("long@example.com")

    assert log.status == "success"
    assert contact["fields"]["DIETARY_REQUIREMENTS"] == "x" * (limit - 2)
    assert log.warnings == [f"DIETARY_REQUIREMENTS: cut to {limit - 2} characters (was {len(stored)})"]


@pytest.mark.parametrize("email, ac_text", [
    ("o'brien@example.com", "Email address local part contains characters that are not allowed"),
    ("x" * 65 + "@example.com", "Email address local part is longer than 64 characters"),
])
def test_an_email_ac_rejects_fails_the_attempt_as_validation_with_acs_text(sandbox_settings, event, email, ac_text):
    _, log, contact = synced(sandbox_settings, event, email)

    assert (log.status, log.error_category) == ("failed", "validation")
    assert ac_text in log.error_message
    assert log.retry_at is None and not SyncLog.objects.filter(email=email, attempt=2).exists()  # a person must fix it
    assert contact is None
