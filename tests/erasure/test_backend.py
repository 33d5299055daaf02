"""The CRM backend's erasure and subject access calls, against the fake AC:
what `erase` makes of AC's answers, and how `contact_snapshot` names the
field values, tags and lists AC returns by id (docs/activecampaign.md §3.3, §11.4)."""
import pytest

from crm_sync.connection import make_backend
from crm_sync.errors import ConfigurationError, NotFound, ValidationFailed
from crm_sync.models import ContactState
from tests.fake_ac import FIELD_IDS

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm(fake_ac):
    backend = make_backend()
    yield backend
    backend.close()


def test_erase_says_whether_ac_deleted_the_contact_or_had_none(fake_ac, crm):
    fake_ac.contacts["42"] = "ada@example.com"

    assert crm.erase("42") is True
    assert crm.erase("42") is False  # 404: already gone
    assert fake_ac.deleted == ["42"]


def test_the_monthly_deletion_limit_is_a_configuration_error(fake_ac, crm):
    fake_ac.contacts["42"] = "ada@example.com"
    fake_ac.delete_reply = (422, {"errors": [{"title": "The monthly contact deletion limit for this account has "
                                                       "been reached", "code": "deletion_limit"}]})

    with pytest.raises(ConfigurationError, match=r"^AC's monthly deletion limit is reached: raise it in AC "
                                                 r"\(or wait for next month\)$") as raised:
        crm.erase("42")
    assert raised.value.status == 422


def test_another_refusal_stays_acs_own(fake_ac, crm):
    fake_ac.delete_reply = (422, {"errors": [{"title": "Contact is locked", "code": "locked"}]})

    with pytest.raises(ValidationFailed, match="Contact is locked") as raised:
        crm.erase("42")
    assert not isinstance(raised.value, ConfigurationError)


def test_the_snapshot_names_values_tags_and_lists(fake_ac, crm, synced):
    ada = synced("ada@example.com")
    contact_id = ContactState.objects.get(user=ada).ac_contact_id
    fake_ac.field_values[contact_id]["99"] = "Countess"      # a field crm_sync never writes: read /fields again
    fake_ac.field_values[contact_id]["12345"] = "?"          # a field the account no longer lists
    fake_ac.tags["900"] = "VIP"                               # added in AC by hand: asked for by id
    fake_ac.contact_tags[contact_id] |= {"900", "901"}        # 901: deleted in AC since
    fields_read = len(fake_ac.calls("GET", "/fields"))

    snapshot = crm.contact_snapshot(contact_id)

    values = {item["perstag"] or item["field"]: item["value"] for item in snapshot["field_values"]}
    assert values["BADGE_NAME"] == "Ada" and values["BADGE_NAME_OLD"] == "Countess" and values["12345"] == "?"
    assert next(item for item in snapshot["field_values"] if item["perstag"] == "BADGE_NAME")["field"] == \
        FIELD_IDS["BADGE_NAME"]
    assert len(fake_ac.calls("GET", "/fields")) == fields_read + 1  # once, not once per unknown field
    assert [tag["name"] for tag in snapshot["tags"]] == ["", "badge-maker", "event:pycon-2026", "VIP"]
    assert sorted(path for _, path, _ in fake_ac.calls("GET", r"/tags/\d+")) == ["/tags/900", "/tags/901"]
    assert snapshot["lists"] == [{"id": "7", "stringid": "badge-maker-attendees", "name": "Badge Maker Attendees",
                                  "status": 1}]
    assert snapshot["contact"]["email"] == "ada@example.com" and "links" not in snapshot["contact"]


def test_the_snapshot_of_a_contact_ac_no_longer_has_raises_not_found(fake_ac, crm):
    with pytest.raises(NotFound):
        crm.contact_snapshot("404")
