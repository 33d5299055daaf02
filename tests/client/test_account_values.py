"""AC's backend holding values as the account does: choices sent as the
option values the account holds (which differ from the labels in real
accounts), a choice the account lacks left out with a warning, and a
contact found by email only when its email is the one asked for
(docs/activecampaign.md §11). No HTTP: the account is a stub."""
import pytest

from crm_sync.activecampaign.backend import ActiveCampaignBackend
from crm_sync.activecampaign.catalog import AccountCatalog, account_fields, option_value
from crm_sync.mapping import ContactPayload

DIET = [{"value": "veg", "label": "Vegetarian"}, {"value": "gf", "label": "Gluten-free"},
        {"value": "vegan", "label": "Vegan"}]
FIELDS_PAGE = {
    "fields": [
        {"id": "7", "perstag": "DIETARY_PREFERENCES", "title": "Dietary Preferences", "type": "checkbox",
         "options": ["70", "71", "72"]},
        {"id": "8", "perstag": "TSHIRT", "title": "T-shirt", "type": "dropdown", "options": ["80", "81"]},
        {"id": "9", "perstag": "BADGE_NAME", "title": "Badge Name", "type": "text", "options": []},
    ],
    "fieldOptions": [
        {"id": "70", "field": "7", "value": "veg", "label": "Vegetarian"},
        {"id": "71", "field": "7", "value": "gf", "label": "Gluten-free"},
        {"id": "72", "field": "7", "value": "vegan", "label": "Vegan"},
        {"id": "80", "field": "8", "value": "m", "label": "Medium"},
        {"id": "81", "field": "8", "value": "l", "label": "Large"},
    ],
    "fieldRels": [{"id": "1", "field": "7", "relid": "0"}],
}


class Account:
    """A client that answers `GET /fields` and `GET /contacts?email=`."""

    def __init__(self, contacts=()):
        self.contacts = list(contacts)
        self.asked = []

    def get_all(self, path, collection, **params):
        assert path == "/fields"
        return FIELDS_PAGE

    def get(self, path, **params):
        self.asked.append((path, params))
        return {"contacts": self.contacts}


class MemoryStore:
    def __init__(self):
        self.entries = {}

    def get_many(self, kind, keys):
        return {key: {"id": self.entries[kind, key][0], **self.entries[kind, key][1]}
                for key in keys if (kind, key) in self.entries}

    def put(self, kind, key, crm_id, data=None):
        self.entries[kind, key] = (str(crm_id), data or {})

    def forget(self, kind, key=None):
        for entry in [entry for entry in self.entries if entry[0] == kind and key in (None, entry[1])]:
            del self.entries[entry]


@pytest.fixture
def backend():
    client = Account()
    return ActiveCampaignBackend(client, AccountCatalog(client, MemoryStore()), "attendees")


def test_the_catalog_keeps_each_options_value_and_label_and_whether_the_field_is_related():
    fields = account_fields(FIELDS_PAGE)

    assert fields["DIETARY_PREFERENCES"]["options"] == DIET and fields["DIETARY_PREFERENCES"]["related"]
    assert fields["TSHIRT"]["type"] == "dropdown" and not fields["TSHIRT"]["related"]


@pytest.mark.parametrize(("choice", "value"), [
    ("Vegetarian", "veg"), ("  vegetarian ", "veg"), ("GLUTEN-FREE", "gf"), ("veg", "veg"), ("Vegan", "vegan"),
    ("Kosher", None), ("", None),
])
def test_a_choice_matches_an_options_value_or_label_as_a_person_would(choice, value):
    assert option_value(choice, DIET) == value


def test_checkbox_choices_go_as_the_option_values_the_account_holds(backend):
    payload = ContactPayload(email="ada@example.com",
                             fields={"DIETARY_PREFERENCES": "||Vegetarian||Gluten-free||", "BADGE_NAME": "Ada"})

    backend.fit(payload)

    assert payload.fields == {"DIETARY_PREFERENCES": "||veg||gf||", "BADGE_NAME": "Ada"}
    assert payload.warnings == []


def test_a_choice_the_account_lacks_is_a_warning_and_the_other_choices_still_go(backend):
    payload = ContactPayload(email="ada@example.com", fields={"DIETARY_PREFERENCES": "||Kosher||Vegan||"})

    backend.fit(payload)

    assert payload.fields == {"DIETARY_PREFERENCES": "||vegan||"}
    assert payload.warnings == ["DIETARY_PREFERENCES: 'Kosher' is not an option of the account's field, not sent"]


def test_a_field_whose_only_choice_the_account_lacks_is_left_out_not_blanked(backend):
    payload = ContactPayload(email="ada@example.com", fields={"DIETARY_PREFERENCES": "||Kosher||", "TSHIRT": "Large"})

    backend.fit(payload)

    assert payload.fields == {"TSHIRT": "l"} and len(payload.warnings) == 1


def test_the_fields_are_read_from_the_store_once_per_catalog_and_again_once_forgotten():
    client, store = Account(), MemoryStore()
    reads = []
    get_many = store.get_many
    store.get_many = lambda kind, keys: reads.append(sorted(keys)) or get_many(kind, keys)
    backend = ActiveCampaignBackend(client, AccountCatalog(client, store), "attendees")

    for name in ("Ada", "Bea", "Cy"):
        payload = ContactPayload(email="x@example.com", fields={"DIETARY_PREFERENCES": "||Vegan||", "BADGE_NAME": name})
        backend.fit(payload)
        assert payload.fields == {"DIETARY_PREFERENCES": "||vegan||", "BADGE_NAME": name}
    assert reads == [["BADGE_NAME", "DIETARY_PREFERENCES"]] * 2   # not stored yet: read from AC, then once more
    backend.catalog.forget_fields()
    backend.fit(ContactPayload(email="x@example.com", fields={"TSHIRT": "Medium"}))
    assert reads[2:] == [["TSHIRT"]] * 2


def test_a_contact_found_by_email_counts_only_when_its_email_is_the_one_asked_for():
    # A filter AC does not apply returns the account's contacts unfiltered.
    client = Account(contacts=[{"id": "1", "email": "someone.else@example.com"},
                               {"id": "2", "email": "Ada@Example.com"}])
    backend = ActiveCampaignBackend(client, None, "attendees")

    assert backend.find_contact("ada@example.com") == "2"
    assert ActiveCampaignBackend(Account(contacts=[{"id": "1", "email": "someone.else@example.com"}]), None,
                                 "attendees").find_contact("ada@example.com") == ""
