"""The property behind every refusal: whatever the badge page accepts in a
field, the mapping sends as it is stored, with no warning for that field;
and whatever the mapping would strip, cut or leave out, the page refuses
(on that field). Any text, phone-like strings, any date, any choice keys."""
import datetime

import phonenumbers
import pytest
from django.utils import timezone
from hypothesis import event, given, settings
from hypothesis import strategies as st

from badgemaker.accounts.forms import AboutYouForm
from badgemaker.accounts.models import User
from badgemaker.badges.forms import BadgeForm
from badgemaker.badges.models import DIETARY_CHOICES, Badge, Event
from crm_sync.mapping import LIMITS, Attendee, Encoder, build_contact_payload, crm_mapping, encode_value
from tests.badge_pages import badge_form
from tests.hypothesis_profiles import examples

pytestmark = pytest.mark.django_db

CRM_FIELDS = {**AboutYouForm.crm_fields, **BadgeForm.crm_fields}
EVENT = Event(name="PyCon Test", slug="pycon-test", starts_on=datetime.date(2027, 1, 20))
TEXT_FIELDS = [name for name, where in CRM_FIELDS.items() if crm_mapping().field(where).type not in
               ("phone", "date", "checkbox")]
PHONE_FIELDS = [name for name, where in CRM_FIELDS.items() if crm_mapping().field(where).type == "phone"]

ANY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
    st.lists(st.sampled_from(["Ada", " ", "\t", "\n", "\r\n", "\x07", "\x1b[1m", "\x85", "\u200b", "<b>", "👩🏽‍💻",
                              "e\u0301", "日本語"]), max_size=6).map("".join),
)
NEAR_THE_TEXTAREA_LIMIT = st.builds(lambda extra, tail: "x" * (LIMITS["textarea"] + extra - len(tail)) + tail,
                                    st.integers(-3, 3), st.sampled_from(["", " ", "é", "👨‍👩‍👧", "\x07"]))
REAL_NUMBERS = st.builds(
    lambda region, kind, style: phonenumbers.format_number(
        phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region), style),
    st.sampled_from(["GB", "US", "FR", "DE", "IN", "JP", "BR", "AU", "NG", "IE"]),
    st.sampled_from([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]),
    st.sampled_from([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164]),
)
PHONE_LIKE = st.one_of(
    REAL_NUMBERS,
    st.sampled_from(["020 7946 0018", "+44 20 7946 0018", "07911 123456", "+1 (415) 555-2671", "07700 900123",
                     "+44 7700 900456", "+44 20 7946 0018 ext 5", "12345", "call me", "+", "00 44 20 7946 0018"]),
    st.text("0123456789 +()-.#*xet", max_size=24),
    st.from_regex(r"\+?[0-9][0-9 ]{5,16}", fullmatch=True),
)
ANY_DATE = st.dates(datetime.date(1800, 1, 1), datetime.date(2200, 12, 31))
KEYS = st.lists(st.sampled_from([key for key, _ in DIETARY_CHOICES] + ["paleo", "VEGAN"]), max_size=4, unique=True)


def bind(field, value):
    """The badge page's two forms, filled in as usual but for `field`; nothing saved."""
    data = badge_form("ada@example.com", **{field: value})
    about = AboutYouForm(data, instance=User(email="ada@example.com"))
    badge = BadgeForm(data, instance=Badge(event=EVENT))
    valid = about.is_valid() & badge.is_valid()
    return valid, {**about.errors, **badge.errors}, about, badge


def check(field, value):
    """The property, for one value typed in one field."""
    valid, errors, about, badge_form_ = bind(field, value)
    where = CRM_FIELDS[field]
    spec = crm_mapping().field(where)
    event(f"{field}: {'refused' if field in errors else 'accepted'}")
    assert set(errors) <= {field}, errors  # the rest of the page is filled in fine
    if field in errors:
        return
    # Accepted: sent as stored, no warning.
    person, badge = about.save(commit=False), badge_form_.save(commit=False)
    badge.confirmed_at = timezone.now()
    payload = build_contact_payload(Attendee(person=person, records=[badge]))
    assert [w for w in payload.warnings if w.startswith(f"{where}:")] == []
    stored = getattr(person, field) if hasattr(person, field) else getattr(badge, field)
    sent = (payload.contact if where in crm_mapping().contact else payload.fields).get(where)
    if spec.type == "date":
        assert sent == (stored.isoformat() if stored else None)
    elif spec.type == "checkbox":  # every key chosen, as the option values, in the options' order
        assert sent == ("||" + "||".join(v for k, v in spec.options.items() if k in stored) + "||" if stored else None)
    elif spec.type != "phone":  # a phone number is sent in E.164: test_refusals.py has examples
        assert (sent or "") == stored, (sent, stored)


def the_mapping_would_change(field, typed):
    """Whether the encoder, given what Django's field leaves of `typed`, would warn."""
    value = typed.strip().replace("\r\n", "\n").replace("\r", "\n") if field == "dietary_requirements" \
        else typed.strip()
    encoder = Encoder()
    encode_value(encoder, crm_mapping().field(CRM_FIELDS[field]), value)
    return bool(encoder.warnings)


@settings(max_examples=examples(400))
@given(field=st.sampled_from(TEXT_FIELDS), typed=ANY_TEXT)
def test_any_text_accepted_is_sent_as_stored_and_what_the_mapping_would_change_is_refused(field, typed):
    check(field, typed)
    if "\x00" not in typed and the_mapping_would_change(field, typed):
        assert field in bind(field, typed)[1]


@settings(max_examples=examples(20))
@given(typed=NEAR_THE_TEXTAREA_LIMIT)
def test_dietary_requirements_around_the_limit_are_sent_whole_or_refused(typed):
    check("dietary_requirements", typed)
    if the_mapping_would_change("dietary_requirements", typed):
        assert "dietary_requirements" in bind("dietary_requirements", typed)[1]


@settings(max_examples=examples(300))
@given(field=st.sampled_from(PHONE_FIELDS), typed=PHONE_LIKE)
def test_any_phone_number_accepted_is_sent_and_one_the_mapping_would_drop_is_refused(field, typed):
    check(field, typed)
    if the_mapping_would_change(field, typed):
        assert field in bind(field, typed)[1]


@settings(max_examples=examples(200))
@given(born=ANY_DATE)
def test_any_date_of_birth_accepted_is_sent(born):
    check("date_of_birth", born.isoformat())
    spec = crm_mapping().field("DATE_OF_BIRTH")
    if spec.check(born):
        assert "date_of_birth" in bind("date_of_birth", born.isoformat())[1]


@settings(max_examples=examples(100))
@given(keys=KEYS)
def test_any_dietary_choices_accepted_are_sent(keys):
    check("dietary_preferences", keys)


def test_every_field_of_the_badge_page_that_reaches_the_crm_is_checked():
    """A field added to the forms and the table but not to `crm_fields` would go unchecked."""
    data = badge_form("ada@example.com")
    about = AboutYouForm(data, instance=User(email="ada@example.com"))
    badge = BadgeForm(data, instance=Badge(event=EVENT))
    assert about.is_valid() and badge.is_valid(), (about.errors, badge.errors)
    unchecked = set(about.fields) | set(badge.fields)
    unchecked -= set(CRM_FIELDS) | {"email", "crm_opt_in", "profile_image"}  # the match key, the list, a file
    for name in sorted(unchecked):
        marked = badge_form("ada@example.com", **{name: "Marked 4f1c"})
        bound = [AboutYouForm(marked, instance=User(email="ada@example.com")),
                 BadgeForm(marked, instance=Badge(event=EVENT))]
        if all(form.is_valid() for form in bound):
            person, record = bound[0].save(commit=False), bound[1].save(commit=False)
            record.confirmed_at = timezone.now()
            payload = build_contact_payload(Attendee(person=person, records=[record]))
            assert "Marked 4f1c" not in str(payload.record()), f"{name} reaches the CRM but is not in crm_fields"
