"""Whatever an attendee types, the badge page's forms and the mapping follow
the issue's table (1,000 examples in `ci`), and the badge card shows it escaped.
What the mapping would strip, cut or leave out, the form refuses; so whatever
it accepts reaches the payload as typed, with no warning."""
import datetime

import grapheme
import pytest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from hypothesis import event, given, settings
from hypothesis import strategies as st

from badgemaker.accounts.forms import AboutYouForm
from badgemaker.accounts.models import User
from badgemaker.badges.forms import BadgeForm
from badgemaker.badges.models import Badge, Event
from badgemaker.badges.views import _badge_context
from badgemaker.crm_mapping import DIETARY_OPTIONS, VOLUNTEER_OPTIONS
from crm_sync.mapping import LIMITS, Attendee, Encoder, build_contact_payload
from tests.bad_input import strategies as bad
from tests.hypothesis_profiles import examples

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ac_settings")]

TEXT_FIELDS = {  # form field -> (where the mapping puts it, its limit key)
    "first_name": ("firstName", "firstName"), "last_name": ("lastName", "lastName"),
    "twitter": ("TWITTER", "text"), "instagram": ("INSTAGRAM", "text"), "facebook": ("FACEBOOK", "text"),
    "linkedin": ("LINKEDIN", "text"), "tiktok": ("TIKTOK", "text"),
    "emergency_contact_name": ("EMERGENCY_CONTACT_NAME", "text"),
    "badge_name": ("BADGE_NAME", "text"), "dietary_requirements": ("DIETARY_REQUIREMENTS", "textarea"),
}
TYPED = bad.typed_text(max_pieces=8)
LONG = {key: bad.long_text(key) for key in LIMITS}
EVENT = Event(name="PyCon <b>2026</b>", slug="pycon-2026", starts_on=datetime.date(2026, 6, 1))


def submit(post):
    """The badge page's two forms, bound as the view binds them (nothing saved)."""
    about = AboutYouForm(post, instance=User())
    badge = BadgeForm(post, instance=Badge(event=EVENT))
    return about, badge


def value_of(payload, where):
    return payload.contact.get(where) if where in ("firstName", "lastName", "phone") else payload.fields.get(where)


REFUSED_ON = {"nul choice": "dietary_preferences", "unknown choice": "dietary_preferences",
              "future birth date": "date_of_birth", "not a date": "date_of_birth",
              "birth date before 1900": "date_of_birth", "too long": "dietary_requirements"}


def refused_anyway(post, *forms):
    """Fields the form refuses whatever the characters: longer than the column, or required and blank."""
    lengths = {f.name: f.max_length for model in (User, Badge) for f in model._meta.fields if f.max_length}
    required = {name for form in forms for name, field in form.fields.items() if field.required}
    return {name for name, value in post.items() if isinstance(value, str) and (
        (name in lengths and len(value.strip()) > lengths[name]) or (name in required and not value.strip()))}


@settings(max_examples=examples(1000))
@given(post_and_refusal=bad.badge_page_posts(), retired_keys=st.lists(st.sampled_from(bad.UNKNOWN_KEYS), max_size=2))
def test_what_is_typed_goes_through_the_form_and_the_mapping_by_the_table(post_and_refusal, retired_keys):
    post, refusal = post_and_refusal
    about, badge_form = submit(post)
    valid = about.is_valid() & badge_form.is_valid()
    errors = {**about.errors, **badge_form.errors}
    event(f"refused for: {refusal}" if refusal else f"valid: {valid} {sorted(errors)}")

    if refusal == "nul":
        # NUL: refused by the form, on the field that holds it, so it never reaches the sync.
        holding = {name for name, value in post.items() if isinstance(value, str) and bad.NUL in value}
        assert holding and holding <= set(errors), (holding, errors)
    elif refusal == "control character":
        # Any control character but tab and newline: the mapping would strip it, so the form refuses it.
        holding = {name for name, value in post.items()
                   if isinstance(value, str) and set(value) & bad.C0_AND_DEL}
        assert holding and holding <= set(errors), (holding, errors)
    elif refusal in ("not a phone number", "phone extension"):
        # A number the mapping would leave out (or send without its extension): refused where it was typed.
        typed = {name for name in bad.PHONE_INPUTS
                 if post[name] in bad.INVALID_PHONES + bad.PHONES_WITH_EXTENSIONS}
        assert typed and typed <= set(errors), (typed, errors)
    elif refusal:
        # An unknown or NUL choice key, a date of birth in the future, before 1900 or not a date,
        # dietary requirements longer than AC takes: refused.
        assert REFUSED_ON[refusal] in errors, errors
    else:
        # Anything else typed is accepted (HTML, SQL, emoji, tab and newline, any script), unless too long for
        # the column.
        assert set(errors) == refused_anyway(post, about, badge_form), errors
    if not valid:
        return

    person = about.save(commit=False)
    badge = badge_form.save(commit=False)
    # A choice withdrawn after the attendee picked it: still stored, no longer offered.
    badge.dietary_preferences = list(badge.dietary_preferences) + retired_keys
    badge.confirmed_at = timezone.now()
    payload = build_contact_payload(Attendee(person=person, records=[badge]))

    expected_warnings = []
    for name, (where, limit_key) in TEXT_FIELDS.items():
        stored = getattr(person, name, None) if hasattr(person, name) else getattr(badge, name)
        assert bad.NUL not in stored
        expected, warnings = bad.expected_text(where, stored, limit_key)
        expected_warnings += warnings
        # HTML, SQL-looking text, emoji, any script: sent as typed (no escaping, no mangling).
        assert value_of(payload, where) == (expected or None), name
        if not warnings:
            assert (value_of(payload, where) or "") == stored
        sent = value_of(payload, where) or ""
        assert not set(sent) & bad.C0_AND_DEL, name
        assert len(sent) <= LIMITS[limit_key], name
        # Cut at a grapheme boundary: the clusters sent are the first clusters of the value.
        clusters = list(grapheme.graphemes(sent))
        assert clusters == list(grapheme.graphemes(stored.strip()))[:len(clusters)] or warnings, name

    for where in ("phone", "EMERGENCY_CONTACT_PHONE"):
        sent = value_of(payload, where)
        assert sent is None or bad.E164.match(sent), (where, sent)

    assert person.date_of_birth is None or person.date_of_birth.year >= 1900
    if person.date_of_birth:
        assert payload.fields["DATE_OF_BIRTH"] == person.date_of_birth.isoformat()

    chosen = [key for key in badge.dietary_preferences if key in DIETARY_OPTIONS]
    if chosen:
        assert payload.fields["DIETARY_PREFERENCES"] == "||" + "||".join(
            label for key, label in DIETARY_OPTIONS.items() if key in chosen) + "||"
    else:
        assert "DIETARY_PREFERENCES" not in payload.fields  # omitted when nothing valid remains
    unknown = [key for key in badge.dietary_preferences if key not in DIETARY_OPTIONS]
    assert any(w.startswith("DIETARY_PREFERENCES: unknown choice") for w in payload.warnings) == bool(unknown)
    assert set(badge.volunteer_interests) <= set(VOLUNTEER_OPTIONS)

    # Whatever the form accepted, the mapping sends as it is: no warning, but for the choice retired since.
    assert expected_warnings == []
    assert [w for w in payload.warnings if not w.startswith("DIETARY_PREFERENCES: unknown choice")] == []
    assert payload.email == person.email.strip().lower()

    # Escaped wherever displayed: the badge card an attendee reviews.
    html = render_to_string("badges/_badge_card.html", _badge_context(badge))
    for shown in [badge.badge_name, badge.dietary_requirements, *retired_keys, EVENT.name]:
        if "<" in shown:
            assert shown not in html
    assert escape(badge.badge_name) in html


@settings(max_examples=examples(1000))
@given(st.sampled_from(sorted(key for key in LIMITS if key != "email")).flatmap(
    lambda key: st.tuples(st.just(key), st.one_of(TYPED, LONG[key]))))
def test_the_text_encoder_follows_the_table_for_any_text(key_and_value):
    limit_key, value = key_and_value
    encoder = Encoder()
    sent = encoder.text("FIELD", value, limit_key)
    expected, warnings = bad.expected_text("FIELD", value, limit_key)
    assert sent == expected
    assert encoder.warnings == warnings
    assert len(sent) <= LIMITS[limit_key]


@pytest.mark.parametrize("control", bad.C1)
def test_c1_control_characters_are_stripped_with_a_warning(control):
    encoder = Encoder()
    assert encoder.text("BADGE_NAME", f"Ada{control}Lovelace") == "AdaLovelace"
    assert encoder.warnings == ["BADGE_NAME: control characters removed"]
