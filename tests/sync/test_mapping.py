"""The pure mapping: encoders and the rules for awkward input."""
import datetime

import pytest

from crm_sync.mapping import LIMITS, Encoder, build_contact_payload
from tests.factories import attendee

pytestmark = pytest.mark.usefixtures("ac_settings")


def test_html_sql_and_emoji_are_sent_as_typed():
    typed = "<b>Ada</b>'; DROP TABLE users;-- 🎉"
    payload = build_contact_payload(attendee(first_name=typed))
    assert payload.contact["firstName"] == typed and payload.warnings == []


def test_control_characters_are_stripped_with_a_warning_but_tab_and_newline_kept():
    payload = build_contact_payload(attendee(twitter="@a\x07d\x1ba", emergency_contact_name="Line\tone\ntwo"))
    assert payload.fields["TWITTER"] == "@ada"
    assert payload.fields["EMERGENCY_CONTACT_NAME"] == "Line\tone\ntwo"
    assert payload.warnings == ["TWITTER: control characters removed"]


@pytest.mark.parametrize("born, reason", [(datetime.date(2999, 1, 1), "in the future"),
                                          (datetime.date(1899, 12, 31), "before 1900")])
def test_implausible_birth_date_is_not_sent(born, reason):
    payload = build_contact_payload(attendee(date_of_birth=born))
    assert "DATE_OF_BIRTH" not in payload.fields
    assert payload.warnings == [f"DATE_OF_BIRTH: not sent ({reason})"]


def test_unknown_choice_keys_are_dropped_and_an_empty_field_omitted():
    encoder = Encoder()
    options = {"vegan": "Vegan", "halal": "Halal"}
    assert encoder.checkbox("DIET", ["halal", "paleo", "vegan"], options) == "||Vegan||Halal||"
    assert encoder.checkbox("DIET", ["paleo"], options) == ""
    assert encoder.warnings == ["DIET: unknown choice paleo dropped"] * 2


def test_long_values_are_cut_at_a_grapheme_boundary_with_the_original_length():
    family = "👨‍👩‍👧"  # one grapheme, five code points
    text = "a" * (LIMITS["text"] - 2) + family
    encoder = Encoder()
    cut = encoder.text("BADGE_NAME", text)
    assert cut == "a" * (LIMITS["text"] - 2)  # the family emoji is not split
    assert encoder.warnings == [f"BADGE_NAME: cut to {LIMITS['text'] - 2} characters (was {len(text)})"]


def test_phone_numbers_become_e164_using_the_default_region():
    encoder = Encoder()
    assert encoder.phone("phone", "020 7946 0018") == "+442079460018"
    assert encoder.phone("phone", "+1 (415) 555-2671") == "+14155552671"
    assert encoder.phone("phone", "12345") == "" and encoder.warnings == ["phone: not a valid phone number, not sent"]


def test_email_is_trimmed_and_lower_cased():
    assert build_contact_payload(attendee(email="  Ada@Example.COM ")).email == "ada@example.com"
