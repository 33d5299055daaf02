"""Reading the account and creating what is missing, at the HTTP boundary:
AC's order, the exact bodies, nothing sent twice, nothing touched that
exists, refusals reported while the rest goes ahead, dry runs that send
nothing, and the catalog store left holding what was read."""
import pytest

from crm_sync.activecampaign.catalog import FIELD, LIST, TAG
from crm_sync.errors import ServerError
from crm_sync.schema import FieldNeed, ListNeed, last_report
from tests.fake_ac import BASE
from tests.schema.conftest import needs

DIET = FieldNeed("DIETARY_PREFERENCES", "Dietary Preferences", "checkbox", ("Vegetarian", "Vegan", "Halal"))
NAME = FieldNeed("BADGE_NAME", "Badge Name", "text")
PHONE = FieldNeed("EMERGENCY_CONTACT_PHONE", "Emergency Contact Phone", "phone")


def paths(account):
    return [path for path, _ in account.writes()]


def test_the_check_only_reads(account, make_schema):
    account.add_field("BADGE_NAME", "text")

    report = make_schema(needs(NAME, DIET, tags=["badge-maker"])).check()

    assert {method for method, _, _ in account.calls()} == {"GET"}
    assert [(row.item, row.state) for row in report.rows] == [
        ("field BADGE_NAME", "ok"), ("field DIETARY_PREFERENCES", "missing"),
        ("options DIETARY_PREFERENCES", "missing options"), ("list badge-maker-attendees", "missing"),
        ("tag badge-maker", "missing"),
    ]
    assert not report.fits and report.mode == "check"


def test_apply_creates_everything_in_acs_order_with_acs_bodies(account, make_schema):
    report = make_schema(needs(NAME, PHONE, DIET)).apply()

    assert paths(account) == ["/fields"] * 3 + ["/fieldRels"] * 3 + ["/fieldOption/bulk", "/lists", "/listGroups"]
    writes = account.writes()
    assert writes[0][1] == {"field": {"type": "text", "title": "Badge Name", "perstag": "BADGE_NAME",
                                      "descript": "Kept up to date by crm_sync", "isrequired": 0, "visible": 1}}
    assert writes[1][1]["field"]["type"] == "text"  # a phone is kept in a text field
    diet_id = int(account.field_id("DIETARY_PREFERENCES"))
    assert writes[5][1] == {"fieldRel": {"field": diet_id, "relid": 0}}
    assert writes[6][1] == {"fieldOptions": [
        {"field": diet_id, "label": "Vegetarian", "value": "Vegetarian", "orderid": 1, "isdefault": False},
        {"field": diet_id, "label": "Vegan", "value": "Vegan", "orderid": 2, "isdefault": False},
        {"field": diet_id, "label": "Halal", "value": "Halal", "orderid": 3, "isdefault": False},
    ]}
    assert writes[7][1] == {"list": {"name": "Badge Maker Attendees", "stringid": "badge-maker-attendees",
                                     "sender_url": "https://badges.example.org",
                                     "sender_reminder": "You confirmed a badge."}}
    list_id = int(next(iter(account.lists)))
    assert writes[8][1] == {"listGroup": {"listid": list_id, "groupid": 3}}
    assert report.fits and report.mode == "apply" and report.refusals == []
    assert [sent["status"] for sent in report.requests] == [201] * 7 + [200, 201]


def test_apply_twice_sends_nothing_the_second_time(account, make_schema):
    make_schema(needs(NAME, DIET)).apply()
    before = len(account.writes())

    report = make_schema(needs(NAME, DIET)).apply()

    assert len(account.writes()) == before
    assert report.fits and report.requests == []


def test_only_the_missing_parts_of_existing_fields_are_added(account, make_schema):
    account.add_field("BADGE_NAME", "text", related=False)
    account.add_field("DIETARY_PREFERENCES", "listbox", options=[("veg", "vegetarian"), ("VEGAN ", "Vegan")])
    account.add_list("badge-maker-attendees")

    report = make_schema(needs(NAME, DIET)).apply()

    diet_id = int(account.field_id("DIETARY_PREFERENCES"))
    assert account.writes() == [
        ("/fieldRels", {"fieldRel": {"field": int(account.field_id("BADGE_NAME")), "relid": 0}}),
        ("/fieldOption/bulk", {"fieldOptions": [
            {"field": diet_id, "label": "Halal", "value": "Halal", "orderid": 3, "isdefault": False}]}),
    ]
    assert account.option_values("DIETARY_PREFERENCES") == ["veg", "VEGAN ", "Halal"]
    assert report.fits


def test_a_field_of_the_wrong_type_is_left_alone(account, make_schema):
    wrong = account.add_field("DIETARY_PREFERENCES", "text", related=False)

    report = make_schema(needs(NAME, DIET)).apply()

    writes = [body for _, body in account.writes()]
    touched = [body["fieldRel"]["field"] for body in writes if "fieldRel" in body]
    touched += [option["field"] for body in writes for option in body.get("fieldOptions", [])]
    assert int(wrong) not in touched
    assert paths(account) == ["/fields", "/fieldRels", "/lists", "/listGroups"]
    assert [(row.item, row.state) for row in report.problems] == [("field DIETARY_PREFERENCES", "wrong type")]
    assert account.fields[wrong]["type"] == "text" and not report.fits


def test_a_refusal_names_the_item_and_acs_words_and_the_rest_goes_ahead(account, make_schema):
    account.refuse["/fields"] = "BADGE_NAME"

    report = make_schema(needs(NAME, DIET)).apply()

    assert report.refusals == ["field BADGE_NAME: POST /api/3/fields: AC rejected the data (422): "
                               "There is already a field with this title"]
    assert paths(account) == ["/fields", "/fields", "/fieldRels", "/fieldOption/bulk", "/lists", "/listGroups"]
    assert [(row.item, row.state) for row in report.problems] == [("field BADGE_NAME", "missing")]
    assert [sent["status"] for sent in report.requests][:2] == [422, 201]

    account.refuse.clear()
    before = len(account.writes())
    again = make_schema(needs(NAME, DIET)).apply()
    assert paths(account)[before:] == ["/fields", "/fieldRels"]
    assert again.fits


def test_a_refused_list_sends_no_list_group(account, make_schema):
    account.refuse["/lists"] = "badge-maker-attendees"
    report = make_schema(needs()).apply()
    assert paths(account) == ["/lists"] and report.refusals[0].startswith("list badge-maker-attendees: ")


def test_without_a_sender_url_the_list_is_not_created(account, make_schema):
    report = make_schema(needs(list_need=ListNeed("attendees", "Attendees", "", "Why"))).apply()
    assert account.writes() == []
    assert "LIST_SENDER_URL" in report.rows[0].detail


def test_ac_failing_midway_stops_with_what_was_made_kept(account, make_schema):
    account.rsps.replace("POST", BASE + "/fieldRels", status=500, body="<html>down</html>")

    with pytest.raises(ServerError):
        make_schema(needs(NAME)).apply()

    assert [field["perstag"] for field in account.fields.values()] == ["BADGE_NAME"]


def test_a_dry_run_sends_no_write_and_shows_what_it_would(account, make_schema, store):
    account.add_field("BADGE_NAME", "text", related=False)

    report = make_schema(needs(NAME, DIET), dry_run=True).apply()

    assert {method for method, _, _ in account.calls()} == {"GET"}
    assert [(sent["item"], sent["path"], sent["status"]) for sent in report.requests] == [
        ("field DIETARY_PREFERENCES", "/api/3/fields", None),
        ("field BADGE_NAME", "/api/3/fieldRels", None),
        ("field DIETARY_PREFERENCES", "/api/3/fieldRels", None),
        ("options DIETARY_PREFERENCES", "/api/3/fieldOption/bulk", None),
        ("list badge-maker-attendees", "/api/3/lists", None),
        ("list badge-maker-attendees", "/api/3/listGroups", None),
    ]
    assert report.requests[2]["body"] == {"fieldRel": {"field": "<id of DIETARY_PREFERENCES>", "relid": 0}}
    assert report.mode == "dry-run" and not report.fits


def test_the_check_leaves_the_store_holding_what_it_read(account, make_schema, store):
    name_id = account.add_field("BADGE_NAME", "text", title="Badge Name")
    account.add_field("DIETARY_PREFERENCES", "checkbox", options=[("veg", "Vegetarian")])
    list_id = account.add_list("badge-maker-attendees")
    account.tags["5"] = "Badge-Maker"
    store.put(FIELD, "GONE", "1", {"type": "text"})
    store.put(TAG, "event:old", "2")

    report = make_schema(needs(NAME, DIET, tags=["badge-maker", "event:old"])).check()

    assert store.get_many(FIELD, ["BADGE_NAME"]) == {"BADGE_NAME": {
        "id": name_id, "title": "Badge Name", "type": "text", "options": [], "related": True}}
    assert store.get_many(FIELD, ["DIETARY_PREFERENCES"])["DIETARY_PREFERENCES"]["options"] == [
        {"value": "veg", "label": "Vegetarian"}]
    assert "GONE" not in store.ids(FIELD)
    assert store.ids(LIST) == {"badge-maker-attendees": list_id}
    assert store.ids(TAG)["badge-maker"] == "5"
    assert last_report(store) == report
