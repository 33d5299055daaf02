"""Creating the account's schema: fields, fieldRels, field options, lists and list groups."""

import pytest
import requests


def create_field(api, **field):
    return api.post("/fields", json={"field": field})


def make_field(api, perstag="DIET", type_="checkbox", title=None):
    body = create_field(api, type=type_, title=title or perstag.title(), perstag=perstag)
    assert body.status_code == 201, body.text
    return body.json()["field"]["id"]


def add_options(api, *options):
    return api.post("/fieldOption/bulk", json={"fieldOptions": list(options)})


def create_list(api, **overrides):
    item = {"name": "Attendees", "stringid": "attendees", "sender_url": "https://example.com",
            "sender_reminder": "You registered for the conference.", **overrides}
    return api.post("/lists", json={"list": item})


def field_by_perstag(api, perstag):
    return api.get("/fields", params={"filters[perstag]": perstag}).json()


# -- POST /fields --------------------------------------------------------------

def test_create_field_is_201_with_string_ids_and_an_upper_cased_perstag(api):
    response = create_field(api, type="text", title="Badge Pronouns", descript="Shown under the name",
                            perstag="badge_pronouns", defval="", visible=1, ordernum=3, isrequired=0)
    assert response.status_code == 201
    field = response.json()["field"]
    assert (field["title"], field["type"], field["perstag"], field["descript"]) == (
        "Badge Pronouns", "text", "BADGE_PRONOUNS", "Shown under the name")
    assert isinstance(field["id"], str) and (field["ordernum"], field["visible"], field["isrequired"]) == ("3", "1", "0")
    assert field["relations"] == [] and field["options"] == []
    found = field_by_perstag(api, "BADGE_PRONOUNS")
    assert [f["id"] for f in found["fields"]] == [field["id"]] and found["fieldRels"] == []


def test_a_missing_perstag_is_made_from_the_title(api):
    field = create_field(api, type="date", title="First PyCon, ever").json()["field"]
    assert field["perstag"] == "FIRST_PYCON_EVER"


@pytest.mark.parametrize("field,code", [
    ({"type": "text"}, "field_missing"),
    ({"title": "No Type"}, "field_missing"),
    ({"title": "Odd", "type": "multiselect"}, "field_invalid"),
    ({"title": "Odd", "type": "text", "perstag": "HAS SPACE"}, "field_invalid"),
    ({"title": "Odd", "type": "text", "visible": "yes"}, "field_invalid"),
])
def test_create_field_validation(api, field, code):
    response = create_field(api, **field)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == code
    assert field_by_perstag(api, "ODD")["meta"]["total"] == "0"


def test_duplicate_perstags_and_titles_are_refused_in_ac_words(api):
    assert create_field(api, type="text", title="Pronouns", perstag="PRONOUNS").status_code == 201
    same_tag = create_field(api, type="text", title="Other", perstag="pronouns")
    assert same_tag.status_code == 422
    error = same_tag.json()["errors"][0]
    assert (error["code"], error["title"]) == ("field_invalid", "There is already a field with this personalization tag")
    same_title = create_field(api, type="text", title="PRONOUNS", perstag="PRONOUNS_2")
    assert same_title.status_code == 422
    assert same_title.json()["errors"][0]["code"] == "duplicate"
    seeded = create_field(api, type="text", title="Anything", perstag="BADGE_NAME")
    assert seeded.status_code == 422


def test_create_field_without_a_wrapper_or_json(api):
    assert api.post("/fields", json={"type": "text", "title": "Bare"}).status_code == 422
    assert api.post("/fields", data=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400


# -- POST /fieldRels -----------------------------------------------------------

def test_relating_a_field_to_all_lists(api, control):
    field_id = make_field(api, "PRONOUNS", "text")
    response = api.post("/fieldRels", json={"fieldRel": {"field": int(field_id), "relid": 0}})
    assert response.status_code == 201
    rel = response.json()["fieldRel"]
    assert (rel["field"], rel["relid"], isinstance(rel["id"], str)) == (int(field_id), 0, True)
    body = field_by_perstag(api, "PRONOUNS")
    assert body["fields"][0]["relations"] == [rel["id"]]
    assert [(r["id"], r["field"], r["relid"]) for r in body["fieldRels"]] == [(rel["id"], field_id, "0")]
    assert next(f for f in control.catalog()["fields"] if f["id"] == field_id)["relations"] == ["0"]


def test_field_rel_errors(api, catalog):
    field_id = make_field(api, "PRONOUNS", "text")
    list_id = catalog.list("badge-maker-attendees")["id"]
    unknown = api.post("/fieldRels", json={"fieldRel": {"field": 999999999, "relid": 0}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "related_missing"
    no_list = api.post("/fieldRels", json={"fieldRel": {"field": field_id, "relid": 999999999}})
    assert no_list.status_code == 422 and no_list.json()["errors"][0]["code"] == "related_missing"
    assert api.post("/fieldRels", json={"fieldRel": {"field": field_id}}).status_code == 422
    assert api.post("/fieldRels", json={"fieldRel": {"field": field_id, "relid": list_id}}).status_code == 201
    twice = api.post("/fieldRels", json={"fieldRel": {"field": field_id, "relid": list_id}})
    assert twice.status_code == 422 and twice.json()["errors"][0]["code"] == "duplicate"
    assert len(field_by_perstag(api, "PRONOUNS")["fields"][0]["relations"]) == 1


# -- POST /fieldOption/bulk ----------------------------------------------------

def test_bulk_options_are_201_and_values_not_labels_are_what_fields_take(api, control):
    field_id = make_field(api, "LANGUAGES")
    response = add_options(api, {"field": field_id, "label": "Afrikaans", "value": "af", "orderid": 1,
                                 "isdefault": False},
                           {"field": field_id, "label": "Portuguese", "value": "pt", "orderid": 2})
    assert response.status_code == 201
    options = response.json()["fieldOptions"]
    assert [(o["field"], o["label"], o["value"], o["orderid"], o["isdefault"]) for o in options] == [
        (field_id, "Afrikaans", "af", 1, 0), (field_id, "Portuguese", "pt", 2, 0)]
    assert all(isinstance(o["id"], str) for o in options)
    body = field_by_perstag(api, "LANGUAGES")
    assert body["fields"][0]["options"] == [o["id"] for o in options]
    assert [(o["label"], o["value"]) for o in body["fieldOptions"]] == [("Afrikaans", "af"), ("Portuguese", "pt")]
    sync = api.sync(email="lang@example.com", fieldValues=[{"field": field_id, "value": "||Afrikaans||"}])
    assert sync.status_code == 422
    assert api.sync(email="lang@example.com", fieldValues=[{"field": field_id, "value": "||af||pt||"}]).status_code == 201
    assert control.contact("lang@example.com")["fields"]["LANGUAGES"] == "||af||pt||"


@pytest.mark.parametrize("body", [
    {"fieldOptions": {"field": "FIELD", "label": "A", "value": "a"}},  # an object, not an array
    {"fieldOption": [{"field": "FIELD", "label": "A", "value": "a"}]},
    {"fieldOptions": []},
])
def test_bulk_options_need_an_array_under_field_options(api, body):
    field_id = make_field(api)
    body = {key: _with_field(value, field_id) for key, value in body.items()}
    response = api.post("/fieldOption/bulk", json=body)
    assert response.status_code == 422
    assert response.json() == {"errors": "Bulk operation failed. Request must contain an array of fieldOption objects."}


def _with_field(value, field_id):
    if isinstance(value, list):
        return [_with_field(item, field_id) for item in value]
    return {k: (field_id if v == "FIELD" else v) for k, v in value.items()}


@pytest.mark.parametrize("second", [
    {"field": "999999999", "label": "B", "value": "b"},
    {"field": "FIELD", "value": "b"},
    {"field": "FIELD", "label": "B"},
    {"field": "FIELD", "label": "Again", "value": "a"},  # the value of the first option
    {"field": "FIELD", "label": "Pipes", "value": "b||c"},
    {"field": "FIELD", "label": "B", "value": "b", "isdefault": "maybe"},
])
def test_one_bad_option_refuses_them_all(api, second):
    field_id = make_field(api)
    response = add_options(api, {"field": field_id, "label": "A", "value": "a"}, _with_field(second, field_id))
    assert response.status_code == 422
    assert isinstance(response.json()["errors"], str) and "fieldOptions[1]" in response.json()["errors"]
    assert field_by_perstag(api, "DIET")["fieldOptions"] == []


def test_option_values_are_unique_per_field_and_only_option_fields_take_options(api, catalog):
    field_id = make_field(api)
    assert add_options(api, {"field": field_id, "label": "A", "value": "a"}).status_code == 201
    assert add_options(api, {"field": field_id, "label": "A again", "value": "a"}).status_code == 422
    other = make_field(api, "OTHER_DIET")
    assert add_options(api, {"field": other, "label": "A", "value": "a"}).status_code == 201
    text = catalog.field("BADGE_NAME")["id"]
    assert add_options(api, {"field": text, "label": "A", "value": "a"}).status_code == 422


# -- POST /lists and /listGroups -------------------------------------------------

def test_create_list_is_200_as_ac_documents_and_the_list_is_in_no_group(api, control):
    response = create_list(api)
    assert response.status_code == 200
    made = response.json()["list"]
    assert (made["name"], made["stringid"], made["sender_url"]) == ("Attendees", "attendees", "https://example.com")
    assert isinstance(made["id"], str)
    stored = next(item for item in control.catalog()["lists"] if item["stringid"] == "attendees")
    assert (stored["id"], stored["groups"]) == (made["id"], [])
    found = api.get("/lists", params={"filters[name]": "Attendees", "limit": 100}).json()["lists"]
    assert made["id"] in {item["id"] for item in found}


@pytest.mark.parametrize("missing", ["name", "stringid", "sender_url", "sender_reminder"])
def test_create_list_names_the_missing_attribute(api, missing):
    response = create_list(api, **{missing: ""})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["code"] == "field_missing" and error["source"]["pointer"] == f"/data/attributes/{missing}"
    assert missing in error["title"]


def test_duplicate_or_unsafe_stringids_are_refused(api):
    assert create_list(api, stringid="Badge-Maker-Attendees").status_code == 422  # seeded, in another case
    assert create_list(api, stringid="has space").status_code == 422
    assert create_list(api).status_code == 200
    again = create_list(api, name="Another name")
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "duplicate"


def test_a_list_group_makes_the_list_visible(api, control):
    list_id = create_list(api).json()["list"]["id"]
    response = api.post("/listGroups", json={"listGroup": {"listid": int(list_id), "groupid": 3}})
    assert response.status_code == 201
    group = response.json()["listGroup"]
    assert (group["list"], group["group"], isinstance(group["id"], str)) == (int(list_id), 3, True)
    assert next(item for item in control.catalog()["lists"] if item["id"] == list_id)["groups"] == ["3"]
    twice = api.post("/listGroups", json={"listGroup": {"listid": list_id, "groupid": 3}})
    assert twice.status_code == 422 and twice.json()["errors"][0]["code"] == "duplicate"


def test_list_group_errors(api):
    unknown = api.post("/listGroups", json={"listGroup": {"listid": 999999999, "groupid": 3}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "related_missing"
    list_id = create_list(api).json()["list"]["id"]
    no_group = api.post("/listGroups", json={"listGroup": {"listid": list_id}})
    assert no_group.status_code == 422 and no_group.json()["errors"][0]["source"]["pointer"] == "/data/attributes/groupid"


def test_seeded_lists_are_in_the_admin_group(control):
    assert {tuple(item["groups"]) for item in control.catalog()["lists"]} == {("3",)}


# -- the same pipeline as every endpoint -----------------------------------------

@pytest.mark.parametrize("path,body", [
    ("/fields", {"field": {"type": "text", "title": "T"}}),
    ("/fieldRels", {"fieldRel": {"field": 1, "relid": 0}}),
    ("/fieldOption/bulk", {"fieldOptions": [{"field": 1, "label": "A", "value": "a"}]}),
    ("/lists", {"list": {"name": "L", "stringid": "l", "sender_url": "u", "sender_reminder": "r"}}),
    ("/listGroups", {"listGroup": {"listid": 1, "groupid": 3}}),
])
def test_schema_endpoints_need_the_key_and_are_logged(ac_sandbox, control, path, body):
    response = requests.post(ac_sandbox.api_url + path, json=body, headers={"Api-Token": "wrong"}, timeout=5)
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})
    entry = control.log()[-1]
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/api/3" + path, 403)
    assert control.stats()["endpoints"] == {f"POST {path}": 1}


def test_schema_endpoints_meet_the_faults(api, control):
    control.set_faults(forbidden_next=1)
    assert create_field(api, type="text", title="Refused").status_code == 403
    assert field_by_perstag(api, "REFUSED")["meta"]["total"] == "0"
    control.set_faults(rate_limit_per_second=1)
    statuses = [create_list(api, stringid=f"quick-{n}").status_code for n in range(3)]
    assert 429 in statuses
