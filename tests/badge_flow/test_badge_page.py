import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from badgemaker.accounts.forms import CONSENT, EMAIL_TAKEN
from badgemaker.accounts.models import User
from badgemaker.badges.models import Badge
from tests.badge_pages import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NUL_MESSAGE = "Null characters are not allowed."
ABOUT_TEXT_FIELDS = [
    "first_name", "last_name", "email", "phone", "emergency_contact_name", "emergency_contact_phone",
    "twitter", "instagram", "facebook", "linkedin", "tiktok",
]  # fmt: skip
BADGE_TEXT_FIELDS = ["badge_name", "dietary_requirements", "dietary_preferences", "volunteer_interests"]


def form_data(**fields):
    data = {
        "first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com",
        "date_of_birth": "1990-12-10", "phone": "+44 20 7946 0000",
        "emergency_contact_name": "Charles Babbage", "emergency_contact_phone": "+44 20 7946 0001",
        "twitter": "@ada", "instagram": "ada.insta", "facebook": "ada.fb",
        "linkedin": "https://www.linkedin.com/in/ada", "tiktok": "@ada.tt",
        "crm_opt_in": "on",
        "badge_name": "Countess Ada", "dietary_preferences": ["vegan", "nut_allergy"],
        "volunteer_interests": ["speaker_support"], "dietary_requirements": "No mushrooms, please.",
    }  # fmt: skip
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def post(client, event, **fields):
    return client.post(reverse("badges:badge", args=[event.slug]), form_data(**fields))


def form_errors(response):
    return {**response.context["about_form"].errors, **response.context["badge_form"].errors}


def test_the_badge_page_needs_a_login(client, event):
    url = reverse("badges:badge", args=[event.slug])

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:login')}?next={url}"


def test_the_badge_page_is_one_form_with_two_fieldsets_and_the_consent_line(attendee_client, event):
    response = attendee_client.get(reverse("badges:badge", args=[event.slug]))

    assert response.text.count("<form method=\"post\" enctype=\"multipart/form-data\"") == 1
    assert "<legend>About you</legend>" in response.text
    assert "<legend>Your badge</legend>" in response.text
    assert CONSENT in response.text.replace("&#x27;", "'")
    assert 'value="vegetarian"' in response.text  # checkbox values are the choice keys


def test_the_badge_page_prefills_from_the_user_and_the_existing_badge(attendee_client, attendee, event, make_badge):
    make_badge(badge_name="Countess", dietary_preferences=["halal"])

    response = attendee_client.get(reverse("badges:badge", args=[event.slug]))

    assert response.context["about_form"]["email"].value() == attendee.email
    assert response.context["badge_form"]["badge_name"].value() == "Countess"
    assert response.context["badge_form"]["dietary_preferences"].value() == ["halal"]


def test_a_new_badge_starts_with_the_attendees_name(attendee_client, event):
    response = attendee_client.get(reverse("badges:badge", args=[event.slug]))

    assert response.context["badge_form"]["badge_name"].value() == "Ada Lovelace"


def test_saving_stores_the_user_and_a_draft_badge_with_choice_keys(attendee_client, attendee, event):
    response = post(attendee_client, event)

    assert response.status_code == 302
    assert response.url == reverse("badges:review", args=[event.slug])
    attendee.refresh_from_db()
    assert attendee.emergency_contact_name == "Charles Babbage"
    assert attendee.date_of_birth.isoformat() == "1990-12-10"
    assert attendee.tiktok == "@ada.tt"
    assert attendee.crm_opt_in is True
    badge = Badge.objects.get(user=attendee, event=event)
    assert badge.status == Badge.Status.DRAFT
    assert badge.badge_name == "Countess Ada"
    assert badge.dietary_preferences == ["vegan", "nut_allergy"]
    assert badge.volunteer_interests == ["speaker_support"]
    assert badge.dietary_requirements == "No mushrooms, please."


def test_leaving_the_opt_in_unticked_stores_no_consent(attendee_client, attendee, event):
    post(attendee_client, event, crm_opt_in=None)

    attendee.refresh_from_db()
    assert attendee.crm_opt_in is False


def test_saving_again_updates_the_same_badge(attendee_client, event, make_badge):
    badge = make_badge(dietary_preferences=["halal"])

    post(attendee_client, event, dietary_preferences=[], badge_name="Ada L.")

    badge.refresh_from_db()
    assert (badge.badge_name, badge.dietary_preferences) == ("Ada L.", [])
    assert Badge.objects.count() == 1


@pytest.mark.parametrize(
    "typed",
    ["<script>alert('hi')</script>", "Zoë 🦄👩🏽‍💻", "Robert'); DROP TABLE badges_badge;--", "a && b || c"],
)
def test_input_is_stored_as_typed(attendee_client, attendee, event, typed):
    post(attendee_client, event, badge_name=typed, dietary_requirements=typed, twitter=typed)

    badge = Badge.objects.get()
    attendee.refresh_from_db()
    assert badge.badge_name == badge.dietary_requirements == attendee.twitter == typed


@pytest.mark.parametrize("field", ABOUT_TEXT_FIELDS + BADGE_TEXT_FIELDS)
def test_a_nul_character_is_refused_in_every_text_field(attendee_client, attendee, event, field):
    value = ["vegan\x00"] if field in ("dietary_preferences", "volunteer_interests") else "Ada\x00Lovelace"

    response = post(attendee_client, event, **{field: value})

    assert response.status_code == 200
    assert NUL_MESSAGE in form_errors(response)[field]
    assert NUL_MESSAGE in response.text
    assert not Badge.objects.exists()
    assert User.objects.get() == attendee and User.objects.get().first_name == "Ada"


def test_a_nul_character_in_the_date_of_birth_is_refused(attendee_client, event):
    response = post(attendee_client, event, date_of_birth="1990-12-10\x00")

    assert "date_of_birth" in form_errors(response)
    assert not Badge.objects.exists()


def test_a_date_of_birth_in_the_future_is_refused(attendee_client, attendee, event):
    tomorrow = timezone.localdate() + timedelta(days=1)

    response = post(attendee_client, event, date_of_birth=tomorrow.isoformat())

    assert form_errors(response)["date_of_birth"] == [
        "We can't use this date: it is in the future. Enter a date of birth from 1 January 1900 to today."]
    attendee.refresh_from_db()
    assert attendee.date_of_birth is None


def test_a_date_of_birth_today_is_accepted(attendee_client, event):
    assert post(attendee_client, event, date_of_birth=timezone.localdate().isoformat()).status_code == 302


def test_an_email_used_by_another_account_in_another_case_is_refused(attendee_client, attendee, event):
    UserFactory(email="grace@example.com", password=PASSWORD)

    response = post(attendee_client, event, email="GRACE@Example.com")

    assert form_errors(response)["email"] == [EMAIL_TAKEN]
    assert User.objects.get(pk=attendee.pk).email == attendee.email


def test_changing_the_letter_case_of_your_own_email_is_fine(attendee_client, attendee, event):
    assert post(attendee_client, event, email="ada@example.com").status_code == 302

    attendee.refresh_from_db()
    assert attendee.email == "ada@example.com"


def test_after_changing_email_the_attendee_logs_in_with_the_new_one(attendee_client, event, client):
    post(attendee_client, event, email="countess@example.com")

    response = client.post(reverse("accounts:login"), {"username": "Countess@example.com", "password": PASSWORD})

    assert response.status_code == 302


def test_the_profile_image_is_optional_and_stored_when_given(attendee_client, event):
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "purple").save(png, "PNG")
    upload = SimpleUploadedFile("me.png", png.getvalue(), content_type="image/png")

    post(attendee_client, event, profile_image=upload)

    badge = Badge.objects.get()
    assert badge.profile_image.name.startswith("badges/me")
    assert badge.profile_image.read() == png.getvalue()


def test_a_file_that_is_not_an_image_is_refused(attendee_client, event):
    upload = SimpleUploadedFile("me.png", b"not an image", content_type="image/png")

    response = post(attendee_client, event, profile_image=upload)

    assert "profile_image" in form_errors(response)


def test_an_unknown_event_is_not_found(attendee_client):
    assert attendee_client.get(reverse("badges:badge", args=["nope"])).status_code == 404
