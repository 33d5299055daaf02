"""The request bodies crm_sync sends to AC, built without HTTP or a database."""
import json
from types import SimpleNamespace

import pytest

from crm_sync.activecampaign.payloads import (
    SUBSCRIBED,
    UNSUBSCRIBED,
    NotBulkable,
    bulk_contact,
    bulk_import_body,
    contact_body,
    contact_list_body,
    contact_tag_body,
    request_size,
    row_size,
    tag_body,
)


def payload(**contact):
    return SimpleNamespace(email="ada@example.com", contact=contact or {"firstName": "Ada"},
                           fields={"TWITTER": "@ada", "BADGE_NAME": "Countess"}, tags=["badge-maker", "event:pycon"])


def test_the_contact_body_carries_every_value_and_custom_fields_by_id_in_perstag_order():
    assert contact_body(payload(), {"BADGE_NAME": "41", "TWITTER": "48"}) == {"contact": {
        "email": "ada@example.com", "firstName": "Ada",
        "fieldValues": [{"field": "41", "value": "Countess"}, {"field": "48", "value": "@ada"}],
    }}


def test_a_tag_is_attached_by_ids_and_created_as_a_contact_tag():
    assert contact_tag_body("5", "7") == {"contactTag": {"contact": "5", "tag": "7"}}
    assert tag_body("badge-maker") == {"tag": {"tag": "badge-maker", "tagType": "contact",
                                               "description": "Added by crm_sync"}}


def test_subscribing_again_after_an_unsubscribe_sends_sourceid_4():
    assert contact_list_body("3", "5", SUBSCRIBED) == {"contactList": {"list": "3", "contact": "5", "status": 1}}
    assert contact_list_body("3", "5", UNSUBSCRIBED) == {"contactList": {"list": "3", "contact": "5", "status": 2}}
    assert contact_list_body("3", "5", SUBSCRIBED, resubscribe=True)["contactList"]["sourceid"] == 4


def test_a_bulk_row_uses_the_importers_names_and_numeric_ids():
    row = bulk_contact(payload(firstName="Ada", lastName="Lovelace"), {"BADGE_NAME": "41", "TWITTER": "48"}, "3",
                       exclude_automations=True)
    assert row == {
        "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
        "fields": [{"id": 41, "value": "Countess"}, {"id": 48, "value": "@ada"}],
        "tags": ["badge-maker", "event:pycon"], "subscribe": [{"listid": 3}], "exclude_automations": True,
    }


def test_a_contact_attribute_the_importer_cannot_carry_is_refused():
    with pytest.raises(NotBulkable, match="customerAcctName"):
        bulk_contact(payload(customerAcctName="ACME"), {"BADGE_NAME": "41", "TWITTER": "48"}, "3", False)


def test_bulk_sizes_are_the_bytes_requests_sends():
    rows = [bulk_contact(payload(), {"BADGE_NAME": "41", "TWITTER": "48"}, "3", False) for _ in range(3)]
    sent = json.dumps(bulk_import_body(rows))
    assert request_size(sum(row_size(row) for row in rows), len(rows)) == len(sent)
    assert request_size(0, 0) == len(json.dumps(bulk_import_body([])))
