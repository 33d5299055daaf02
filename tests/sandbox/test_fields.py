"""Custom fields: the seeded catalog, lookups, and the value encoding of every type."""

import pytest

from crm_sync.sandbox.limits import ASSUMED_LIMITS
from crm_sync.sandbox.seed import load_account_catalog


def set_value(api, field_id, value, email="f@example.com"):
    return api.sync(email=email, fieldValues=[{"field": field_id, "value": value}])


def test_catalog_has_the_account_fields_and_over_100_in_all(catalog):
    perstags = {f["perstag"] for f in catalog.fields}
    assert {f["perstag"] for f in load_account_catalog()["fields"]} <= perstags
    assert len(catalog.fields) > 100
    assert {"BADGE_NAME_OLD", "DIETARY_PREFERENCES_OLD"} <= perstags
    assert "Dietary Preferences (old)" in {f["title"] for f in catalog.fields}


def test_some_real_fields_lie_beyond_the_first_100(api):
    first_page = {f["perstag"] for f in api.get("/fields", params={"limit": 100}).json()["fields"]}
    real = {f["perstag"] for f in load_account_catalog()["fields"]}
    assert real - first_page


def test_fields_page_at_20_and_sideload_options(api):
    body = api.get("/fields").json()
    assert len(body["fields"]) == 20 and int(body["meta"]["total"]) > 100
    body = api.get("/fields", params={"filters[perstag]": "DIETARY_PREFERENCES"}).json()
    assert body["meta"]["total"] == "1"
    field = body["fields"][0]
    assert field["type"] == "checkbox" and field["options"]
    assert {o["id"] for o in body["fieldOptions"]} == set(field["options"])
    assert {o["label"]: o["value"] for o in body["fieldOptions"]}["Vegetarian"] == "veg"


def test_options_endpoint_lists_a_fields_options(api, catalog):
    field = catalog.field("TSHIRT_SIZE")
    options = api.get(f"/fields/{field['id']}/options").json()["fieldOptions"]
    assert [o["value"] for o in options] == field["options"]
    assert api.get("/fields/999999999/options").status_code == 404


def test_ids_differ_between_seeds_and_are_stable_for_one(ac_sandbox, control):
    control.reset(seed=1)
    first = control.catalog()["fields"][0]["id"]
    control.reset(seed=1)
    second = control.catalog()["fields"][0]["id"]
    assert first != second  # ids are never reused, even for the same seed
    ids = [f["id"] for f in control.catalog()["fields"]]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("value,ok", [
    ("||vegan||", True), ("||veg||halal||", True), ("", True),
    ("vegan", False), ("veg||halal", False), ("||vegan", False), ("veg,halal", False),
    ("||VEGAN||", False), ("||Carnivore||", False), ("||vegan||vegan||", False), ("||||", False),
    ("||Vegan||", False), ("||Vegetarian||Halal||", False),  # labels, not values
])
def test_checkbox_values_need_the_pipe_form_and_existing_options(api, catalog, value, ok):
    response = set_value(api, catalog.field("DIETARY_PREFERENCES")["id"], value)
    assert (response.status_code in (200, 201)) is ok, response.text
    if not ok:
        assert response.status_code == 422
        assert response.json()["errors"][0]["source"]["pointer"] == "/data/attributes/fieldValues/0/value"


@pytest.mark.parametrize("perstag,value,ok", [
    ("TSHIRT_SIZE", "M", True), ("TSHIRT_SIZE", "||M||", False), ("TSHIRT_SIZE", "XXXL", False),
    ("TSHIRT_SIZE", "m", False), ("TICKET_TYPE", "Student", True), ("TICKET_TYPE", "Student,Speaker", False),
])
def test_dropdown_and_radio_take_exactly_one_existing_option(api, catalog, perstag, value, ok):
    response = set_value(api, catalog.field(perstag)["id"], value)
    assert (response.status_code in (200, 201)) is ok


@pytest.mark.parametrize("value,ok", [
    ("2024-02-29", True), ("2023-02-29", False), ("2024-13-01", False), ("01/02/2024", False),
    ("2024-1-5", False), ("2024-01-05T10:00:00", False), ("", True),
])
def test_date_fields_take_a_real_yyyy_mm_dd(api, catalog, value, ok):
    response = set_value(api, catalog.field("DATE_OF_BIRTH")["id"], value)
    assert (response.status_code in (200, 201)) is ok


def test_datetime_needs_an_offset_and_is_stored_in_the_account_timezone(api, catalog, control):
    field_id = catalog.field("CHECKIN_TIME")["id"]
    assert set_value(api, field_id, "2024-06-01T09:00:00").status_code == 422
    assert set_value(api, field_id, "2024-06-01T14:00:00+00:00").status_code == 201
    assert control.contact("f@example.com")["fields"]["CHECKIN_TIME"] == "2024-06-01T09:00:00-05:00"


def test_unknown_field_id_is_422(api):
    response = set_value(api, "999999999", "x")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "related_missing"
    assert set_value(api, "BADGE_NAME", "x").status_code == 422  # a perstag is not an id


def test_text_values_over_the_assumed_limits_are_refused(api, catalog):
    text, area = catalog.field("BADGE_NAME")["id"], catalog.field("DIETARY_REQUIREMENTS")["id"]
    assert set_value(api, text, "x" * ASSUMED_LIMITS["text"]).status_code in (200, 201)
    assert set_value(api, text, "x" * (ASSUMED_LIMITS["text"] + 1)).status_code == 422
    assert set_value(api, area, "x" * (ASSUMED_LIMITS["text"] + 1)).status_code == 200
    assert set_value(api, area, "x" * (ASSUMED_LIMITS["textarea"] + 1)).status_code == 422


def test_non_string_values_are_refused(api, catalog):
    assert set_value(api, catalog.field("NUMBER_OF_EVENTS")["id"], 3).status_code == 422
    assert set_value(api, catalog.field("NUMBER_OF_EVENTS")["id"], "3").status_code == 201


def test_field_values_endpoints_create_then_update(api, catalog, control):
    contact_id = api.sync(email="fv@example.com").json()["contact"]["id"]
    field_id = catalog.field("LAST_EVENT")["id"]
    created = api.post("/fieldValues", json={"fieldValue": {"contact": contact_id, "field": field_id, "value": "A"}})
    assert created.status_code == 200
    value_id = created.json()["fieldValue"]["id"]
    updated = api.put(f"/fieldValues/{value_id}",
                      json={"fieldValue": {"contact": contact_id, "field": field_id, "value": "B"}})
    assert updated.status_code == 200 and updated.json()["fieldValue"]["value"] == "B"
    assert control.contact("fv@example.com")["fields"]["LAST_EVENT"] == "B"
    assert api.put("/fieldValues/999999999", json={"fieldValue": {"value": "x"}}).status_code == 404
    bad = api.post("/fieldValues", json={"fieldValue": {"contact": contact_id, "field": "999999999", "value": "x"}})
    assert bad.status_code == 422
    bad_date = api.post("/fieldValues", json={"fieldValue": {
        "contact": contact_id, "field": catalog.field("LAST_BADGE_CONFIRMED")["id"], "value": "2024-02-30"}})
    assert bad_date.status_code == 422


REAL_OPTIONS = {
    "DIETARY_PREFERENCES": {
        "Vegetarian": "veg", "Vegan": "vegan", "Pescatarian": "pesc", "Gluten-free": "gf",
        "Dairy-free": "df", "Nut allergy": "nuts", "Halal": "halal", "Kosher": "kosher",
    },
    "VOLUNTEER_INTERESTS": {
        "Registration desk": "reg", "Setup and teardown": "setup", "Speaker support": "speakers",
        "Photography": "photo", "Social media": "social", "Accessibility support": "a11y",
    },
}


@pytest.mark.parametrize("perstag", sorted(REAL_OPTIONS))
def test_real_checkbox_options_have_values_that_differ_from_their_labels(api, perstag):
    body = api.get("/fields", params={"filters[perstag]": perstag}).json()
    options = [o for o in body["fieldOptions"] if o["field"] == body["fields"][0]["id"]]
    assert [(o["label"], o["value"]) for o in options] == list(REAL_OPTIONS[perstag].items())
    labels = [item["label"] for item in body["fieldOptions"]]
    assert labels == [f["options"] for f in load_account_catalog()["fields"] if f["perstag"] == perstag][0]


def test_volunteer_interests_take_values_not_labels(api, catalog, control):
    field = catalog.field("VOLUNTEER_INTERESTS")
    assert field["option_labels"][field["options"].index("a11y")] == "Accessibility support"
    assert set_value(api, field["id"], "||Photography||").status_code == 422
    assert set_value(api, field["id"], "||photo||a11y||").status_code == 201
    assert control.contact("f@example.com")["fields"]["VOLUNTEER_INTERESTS"] == "||photo||a11y||"


def test_unknown_option_values_are_refused_everywhere_values_are_written(api, catalog):
    """Stricter than AC, which stores them silently: a mapping mistake must be loud in tests."""
    contact = api.sync(email="o@example.com").json()["contact"]["id"]
    field = catalog.field("DIETARY_PREFERENCES")["id"]
    posted = api.post("/fieldValues", json={"fieldValue": {"contact": contact, "field": field, "value": "||Vegan||"}})
    assert posted.status_code == 422
    bulk = api.post("/import/bulk_import", json={"contacts": [
        {"email": "o@example.com", "fields": [{"id": field, "value": "||Vegan||"}]}, {"email": "p@example.com"}]})
    assert bulk.status_code == 400 and bulk.json()["failureReasons"][0]["contact"] == 0


def test_every_seeded_field_is_related_to_all_lists(api):
    body = api.get("/fields", params={"limit": 100}).json()
    rels = {r["id"]: r for r in body["fieldRels"]}
    for field in body["fields"]:
        assert len(field["relations"]) == 1
        rel = rels[field["relations"][0]]
        assert (rel["field"], rel["relid"]) == (field["id"], "0")
