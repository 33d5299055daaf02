"""Each rule of the CRM mapping that would drop or cut a value, posted on the
badge page (or the sign-up page): the form refuses it on its field, says what
it accepts, and saves nothing. The same value arriving another way is the
mapping's business (tests/bad_input/test_table.py)."""
import io
from datetime import timedelta
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from badgemaker.accounts.models import User
from badgemaker.badges.models import Badge
from crm_sync.mapping import LIMITS, Attendee, build_contact_payload, crm_mapping, example_phone, limit_of
from tests.badge_pages import badge_form, sign_up

pytestmark = pytest.mark.django_db

# The form fields the mapping sends as text, and where.
TEXT_FIELDS = {
    "first_name": "firstName", "last_name": "lastName", "emergency_contact_name": "EMERGENCY_CONTACT_NAME",
    "twitter": "TWITTER", "instagram": "INSTAGRAM", "facebook": "FACEBOOK", "linkedin": "LINKEDIN",
    "tiktok": "TIKTOK", "badge_name": "BADGE_NAME", "dietary_requirements": "DIETARY_REQUIREMENTS",
}  # fmt: skip
PHONE_FIELDS = ["phone", "emergency_contact_phone"]
NOT_PHONE_NUMBERS = ["07700 900123", "+44 7700 900456", "12345", "call me", "+999 1", "0000"]


def post(client, event, **typed):
    return client.post(reverse("badges:badge", args=[event.slug]), badge_form("ada@example.com", **typed))


def errors_of(response):
    assert response.status_code == 200, "the form accepted it"
    return {**response.context["about_form"].errors, **response.context["badge_form"].errors}


def shown(response):
    """The page's text as the attendee reads it (entities decoded)."""
    return unescape(response.content.decode())


def nothing_saved(attendee):
    assert not Badge.objects.exists()
    attendee.refresh_from_db()
    assert attendee.phone == "" and attendee.first_name == "Ada"


def sent(attendee, event):
    """What the mapping would send now for the attendee's saved badge (as if confirmed), and its warnings."""
    badge = Badge.objects.get(user=attendee, event=event)
    badge.confirm()
    attendee.refresh_from_db()
    return build_contact_payload(Attendee(person=attendee, records=[badge]))


# -- phone numbers -------------------------------------------------------------------
@pytest.mark.parametrize("field", PHONE_FIELDS)
@pytest.mark.parametrize("typed", NOT_PHONE_NUMBERS)
def test_a_phone_number_the_mapping_would_leave_out_is_refused_with_an_example(
        attendee_client, attendee, event, field, typed):
    response = post(attendee_client, event, **{field: typed})

    message = (f"This isn't a phone number we can use. Enter a number with its country code, "
               f"for example {example_phone()}.")
    assert errors_of(response) == {field: [message]}
    assert message in shown(response)
    assert example_phone() == "+44 7400 123456"  # the international form, for the region (GB)
    nothing_saved(attendee)


@pytest.mark.parametrize("field", PHONE_FIELDS)
def test_a_phone_number_with_an_extension_is_refused_as_the_extension_would_be_lost(
        attendee_client, attendee, event, field):
    response = post(attendee_client, event, **{field: "+44 20 7946 0018 ext 5"})

    assert errors_of(response) == {field: [
        "Please leave out the extension (5): we can only keep the number itself, for example +44 7400 123456."]}
    nothing_saved(attendee)


@pytest.mark.parametrize("typed, e164", [("020 7946 0018", "+442079460018"), ("+44 20 7946 0018", "+442079460018"),
                                         ("07911 123456", "+447911123456"), ("+1 (415) 555-2671", "+14155552671")])
def test_a_valid_phone_number_is_kept_as_typed_and_sent_in_e164_without_a_warning(
        attendee_client, attendee, event, typed, e164):
    assert post(attendee_client, event, phone=typed, emergency_contact_phone=typed).status_code == 302

    payload = sent(attendee, event)
    assert attendee.phone == typed
    assert payload.contact["phone"] == payload.fields["EMERGENCY_CONTACT_PHONE"] == e164
    assert payload.warnings == []


def test_the_example_follows_the_phone_region(attendee_client, event, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PHONE_REGION": "US"}

    response = post(attendee_client, event, phone="020 7946 0018")  # a London number, read as an American one

    assert errors_of(response)["phone"] == [
        "This isn't a phone number we can use. Enter a number with its country code, for example +1 201-555-0123."]


def test_the_phone_fields_show_the_example_before_anything_is_typed(attendee_client, event):
    page = shown(attendee_client.get(reverse("badges:badge", args=[event.slug])))

    assert page.count("For example +44 7400 123456") == 2
    assert 'type="tel" name="phone"' in page


# -- dates of birth ------------------------------------------------------------------
@pytest.mark.parametrize("typed, reason", [("1899-12-31", "before 1900"), ("1850-06-01", "before 1900"),
                                           (None, "in the future")])
def test_a_date_of_birth_the_mapping_would_not_send_is_refused(attendee_client, attendee, event, typed, reason):
    typed = typed or (timezone.localdate() + timedelta(days=1)).isoformat()

    response = post(attendee_client, event, date_of_birth=typed)

    assert errors_of(response) == {"date_of_birth": [
        f"We can't use this date: it is {reason}. Enter a date of birth from 1 January 1900 to today."]}
    nothing_saved(attendee)


@pytest.mark.parametrize("typed", ["1900-01-01", None])
def test_the_first_and_last_dates_of_birth_accepted_are_sent(attendee_client, attendee, event, typed):
    typed = typed or timezone.localdate().isoformat()

    assert post(attendee_client, event, date_of_birth=typed).status_code == 302
    payload = sent(attendee, event)
    assert payload.fields["DATE_OF_BIRTH"] == typed and payload.warnings == []


# -- control characters --------------------------------------------------------------
@pytest.mark.parametrize("field, control", [
    (field, control) for field in list(TEXT_FIELDS) + PHONE_FIELDS
    for control in ["\x07", "\x1b", "\x7f", "\x0b", "\x85", "\r"]
    # A CR in a textarea is a new line: test_new_lines_in_a_textarea_are_kept_as_new_lines.
    if (field, control) != ("dietary_requirements", "\r")
])
def test_a_control_character_the_mapping_would_strip_is_refused(attendee_client, attendee, event, field, control):
    response = post(attendee_client, event, **{field: f"Ada{control}Lovelace"})

    [message] = errors_of(response)[field]
    assert message == (f"This has an invisible control character (U+{ord(control):04X}), perhaps from pasted text: "
                       f"please type it again without it. Letters in any script, numbers, punctuation, emoji and "
                       f"spaces are all fine.")
    nothing_saved(attendee)


def test_tab_and_new_line_are_accepted_and_sent_as_typed(attendee_client, attendee, event):
    response = post(attendee_client, event, badge_name="Ada\tLovelace", dietary_requirements="No nuts\nNo eggs")

    assert response.status_code == 302
    payload = sent(attendee, event)
    assert payload.fields["BADGE_NAME"] == "Ada\tLovelace"
    assert payload.fields["DIETARY_REQUIREMENTS"] == "No nuts\nNo eggs"
    assert payload.warnings == []


def test_new_lines_in_a_textarea_are_kept_as_new_lines(attendee_client, attendee, event):
    # A browser sends a textarea's new lines as CR LF; CR is a control character the mapping strips.
    assert post(attendee_client, event, dietary_requirements="No nuts\r\nNo eggs\rNo fish").status_code == 302

    assert Badge.objects.get().dietary_requirements == "No nuts\nNo eggs\nNo fish"
    payload = sent(attendee, event)
    assert payload.fields["DIETARY_REQUIREMENTS"] == "No nuts\nNo eggs\nNo fish" and payload.warnings == []


# -- lengths ---------------------------------------------------------------------------
def test_dietary_requirements_longer_than_ac_takes_are_refused(attendee_client, attendee, event):
    limit = LIMITS["textarea"]
    response = post(attendee_client, event, dietary_requirements="x" * (limit + 1))

    assert errors_of(response) == {"dietary_requirements": [
        f"Please shorten this to {limit:,} characters or fewer (it has {limit + 1:,})."]}
    nothing_saved(attendee)


def test_dietary_requirements_at_the_limit_are_sent_whole(attendee_client, attendee, event):
    typed = "x" * (LIMITS["textarea"] - 3) + "👨‍👩‍👧"[:3]

    assert post(attendee_client, event, dietary_requirements=typed).status_code == 302
    payload = sent(attendee, event)
    assert payload.fields["DIETARY_REQUIREMENTS"] == typed and payload.warnings == []


def test_only_dietary_requirements_can_be_longer_than_ac_takes_the_columns_hold_the_rest():
    """Elsewhere the column refuses first, with Django's "at most N characters"."""
    columns = {field.name: field.max_length for model in (User, Badge) for field in model._meta.fields}
    for name, where in TEXT_FIELDS.items():
        limit = limit_of(crm_mapping().field(where))
        assert (columns[name] is None) if name == "dietary_requirements" else columns[name] <= limit, name


# -- choices -----------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["dietary_preferences", "volunteer_interests"])
def test_a_choice_the_mapping_has_no_option_for_is_refused(attendee_client, attendee, event, field):
    response = post(attendee_client, event, **{field: ["paleo"]})

    assert errors_of(response) == {field: ["Select a valid choice. paleo is not one of the available choices."]}
    nothing_saved(attendee)


# -- the photo ---------------------------------------------------------------------------
def test_a_photo_with_a_long_name_in_any_script_is_sent_as_a_whole_url(attendee_client, attendee, event):
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "purple").save(png, "PNG")
    name = "微信图片_" + "照片" * 40 + " (1).PNG"  # its URL would be cut, percent-encoded at nine characters each
    upload = SimpleUploadedFile(name, png.getvalue(), content_type="image/png")

    assert post(attendee_client, event, profile_image=upload).status_code == 302

    badge = Badge.objects.get()
    assert badge.profile_image.name.startswith("badges/") and badge.profile_image.name.endswith(".png")
    assert badge.profile_image.name.isascii() and len(badge.profile_image.name) <= len("badges/") + 40 + 8 + 4
    payload = sent(attendee, event)
    assert payload.fields["BADGE_IMAGE_URL"] == "https://badges.example.org" + badge.profile_image.url
    assert payload.warnings == []


# -- the sign-up page ----------------------------------------------------------------------
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_sign_up_refuses_a_name_the_mapping_would_strip(client, field):
    response = sign_up(client, "grace@example.com", **{field: "Grace\x07"})

    assert response.status_code == 200
    assert "invisible control character (U+0007)" in response.context["form"].errors[field][0]
    assert not User.objects.filter(email="grace@example.com").exists()
