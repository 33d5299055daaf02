"""The one table of assumed AC length limits (crm_sync/ac_assumed_limits.json):
the mapping and the sandbox read it and behave alike. A value at each limit
goes through the mapping unchanged and the sandbox accepts it; one past it is
cut by the mapping, and the sandbox refuses it if sent raw."""
import json
from pathlib import Path

import pytest

import crm_sync
from crm_sync.activecampaign.client import ActiveCampaignClient
from crm_sync.errors import ValidationFailed
from crm_sync.mapping import LIMITS, Encoder, build_contact_payload
from crm_sync.sandbox.limits import ASSUMED_LIMITS
from tests.factories import attendee

pytestmark = pytest.mark.django_db

TABLE = json.loads((Path(crm_sync.__file__).parent / "ac_assumed_limits.json").read_text())
# Where each limit applies in AC: a contact attribute, or a custom field of that type (by perstag).
CONTACT_KEYS = ["firstName", "lastName"]
FIELD_OF_TYPE = {"text": "BADGE_NAME", "hidden": "BADGEMAKER_USER_ID", "textarea": "DIETARY_REQUIREMENTS"}


def at(limit, tail="é"):
    """A value of exactly `limit` characters, ending in a non-ASCII one."""
    return "a" * (limit - len(tail)) + tail


@pytest.fixture
def ac(sandbox_settings):
    client = ActiveCampaignClient(sandbox_settings.url, sandbox_settings.api_key)
    fields = {f["perstag"]: f["id"] for f in sandbox_settings.control.catalog()["fields"]}
    yield client, fields
    client.close()


def send(ac, email, contact=None, fields=None):
    client, ids = ac
    body = {"email": email, **(contact or {})}
    if fields:
        body["fieldValues"] = [{"field": ids[perstag], "value": value} for perstag, value in fields.items()]
    return client.post("/contact/sync", {"contact": body})


def test_the_table_is_marked_as_assumptions_and_both_sides_read_it():
    assert TABLE["about"].startswith("ASSUMPTIONS")
    table = {key: value for key, value in TABLE.items() if key != "about"}
    assert LIMITS == table
    assert ASSUMED_LIMITS == table


@pytest.mark.parametrize("key", CONTACT_KEYS + sorted(FIELD_OF_TYPE))
def test_at_the_limit_accepted_one_past_cut_by_the_mapping_and_refused_raw(ac, key):
    limit = ASSUMED_LIMITS[key]
    where = {"contact": {key: None}} if key in CONTACT_KEYS else {"fields": {FIELD_OF_TYPE[key]: None}}

    def placed(value):
        return {part: {name: value for name in names} for part, names in where.items()}

    encoder = Encoder()
    assert encoder.text(key, at(limit), key) == at(limit) and encoder.warnings == []
    send(ac, f"at-{key.lower()}@example.com", **placed(at(limit)))  # accepted: no exception

    past = at(limit + 1)
    cut = encoder.text(key, past, key)
    assert cut == past[:limit] and encoder.warnings == [f"{key}: cut to {limit} characters (was {limit + 1})"]
    send(ac, f"cut-{key.lower()}@example.com", **placed(cut))
    with pytest.raises(ValidationFailed, match=f"longer than {limit}"):
        send(ac, f"raw-{key.lower()}@example.com", **placed(past))


def test_through_the_whole_mapping_a_value_at_the_limit_is_sent_whole_and_one_past_is_cut(ac):
    """The same, from an attendee to the sandbox: the mapping picks each field's limit itself."""
    def sized(extra):
        size = {key: ASSUMED_LIMITS[key] + extra for key in ASSUMED_LIMITS}
        return attendee(email=f"whole-{extra}@example.com", first_name=at(size["firstName"]),
                        last_name=at(size["lastName"]),
                        badge={"badge_name": at(size["text"]), "dietary_requirements": at(size["textarea"])})

    whole = build_contact_payload(sized(0))
    assert whole.warnings == []
    past = build_contact_payload(sized(1))
    assert len(past.warnings) == 4 and all("cut to" in w for w in past.warnings)
    for payload in (whole, past):
        send(ac, payload.email, contact=payload.contact, fields=payload.fields)


def test_phone_numbers_never_reach_the_limit_and_the_sandbox_holds_it(ac):
    """The phone limit is checked by the sandbox; the mapping sends E.164 (at most 16
    characters) or nothing, and cuts the raw text at the limit before parsing it."""
    limit = ASSUMED_LIMITS["phone"]
    encoder = Encoder()
    assert encoder.text("phone", "1" * (limit + 1), "phone") == "1" * limit
    assert encoder.phone("phone", "1" * (limit + 1)) == ""
    send(ac, "phone-at@example.com", contact={"phone": "1" * limit})
    with pytest.raises(ValidationFailed, match=f"longer than {limit}"):
        send(ac, "phone-past@example.com", contact={"phone": "1" * (limit + 1)})


def test_emails_are_never_cut_the_form_keeps_them_under_the_limit_and_the_sandbox_holds_it(ac):
    """Cutting an email would make it someone else's: the mapping never does. The
    form refuses anything over 254 characters (Django's EmailField), under the limit."""
    from badgemaker.accounts.models import User

    limit = ASSUMED_LIMITS["email"]
    assert User._meta.get_field("email").max_length < limit
    domain = ".".join(["d" * 60] * 3) + ".example.com"  # labels under 64 characters

    def email(size):
        local = "a" * (size - len(domain) - 1)
        return f"{local}@{domain}"

    assert len(email(limit)) == limit
    send(ac, email(limit))
    with pytest.raises(ValidationFailed, match=f"longer than {limit}"):
        send(ac, email(limit + 1))


def test_tag_names_at_the_limit_are_accepted_and_one_past_refused_raw(ac):
    client, _ = ac
    limit = ASSUMED_LIMITS["tag"]
    client.post("/tags", {"tag": {"tag": at(limit), "tagType": "contact"}})
    with pytest.raises(ValidationFailed):
        client.post("/tags", {"tag": {"tag": at(limit + 1), "tagType": "contact"}})


def test_a_tag_past_the_limit_is_cut_by_the_mapping():
    limit = ASSUMED_LIMITS["tag"]
    payload = build_contact_payload(attendee(event={"slug": "s" * limit}))  # the tag is "event:" + the slug
    assert all(len(tag) <= limit for tag in payload.tags)
    assert any("cut to" in warning for warning in payload.warnings)
