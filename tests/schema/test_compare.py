"""The check: each field the mapping writes, its options, the list and the
tags against what the account holds, with what the sync does about each.
Pure: the account is given as data."""
from datetime import datetime, timezone

import pytest

from crm_sync.activecampaign.schema import Account, compare
from crm_sync.connection import schema_needs
from crm_sync.schema import FieldNeed, ListNeed, Report, Row, table
from tests.schema.conftest import LIST_NEED, needs


def held(type_, options=(), related=True, title="A title", id_="7"):
    return {"id": id_, "title": title, "type": type_, "related": related,
            "options": [{"value": v, "label": label} for v, label in options]}


def states(rows):
    return [(row.item, row.state) for row in rows]


def test_an_empty_account_lacks_every_field_option_and_the_list(badge_maker_needs):
    rows = compare(badge_maker_needs, Account(fields={}, list=None))

    assert [row.state for row in rows if row.kind == "field"] == ["missing"] * 17
    assert states(rows)[-1] == ("list badge-maker-attendees", "missing")
    options = {row.name: row.detail for row in rows if row.kind == "options"}
    assert options == {
        "DIETARY_PREFERENCES": "Vegetarian, Vegan, Pescatarian, Gluten-free, Dairy-free, Nut allergy, Halal, Kosher",
        "VOLUNTEER_INTERESTS": "Registration desk, Setup and teardown, Speaker support, Photography, Social media, "
                               "Accessibility support",
    }
    twitter = next(row for row in rows if row.name == "TWITTER")
    assert twitter.detail == "--apply creates it: text “Twitter / X”"
    assert "configuration error" in twitter.sync


@pytest.mark.parametrize("encoder, ac_type, state", [
    ("text", "text", "ok"), ("text", "textarea", "ok"), ("text", "hidden", "ok"),
    ("phone", "text", "ok"), ("hidden", "hidden", "ok"), ("textarea", "textarea", "ok"),
    ("checkbox", "checkbox", "ok"), ("checkbox", "listbox", "ok"), ("date", "date", "ok"),
    # A textarea value may be longer than a text field holds.
    ("textarea", "text", "wrong type"), ("date", "text", "wrong type"), ("text", "date", "wrong type"),
    ("checkbox", "dropdown", "wrong type"), ("checkbox", "text", "wrong type"), ("date", "datetime", "wrong type"),
])
def test_a_field_fits_when_its_type_takes_what_the_encoder_writes(encoder, ac_type, state):
    (row,) = compare(needs(FieldNeed("X", "X", encoder)), Account({"X": held(ac_type)}, list_known=False))
    assert row.state == state


def test_a_wrong_type_says_what_is_needed_and_that_a_person_decides():
    (row,) = compare(needs(FieldNeed("BADGE_NAME", "Badge Name", "text")),
                     Account({"BADGE_NAME": held("date")}, list_known=False))
    assert row.detail == ("AC's field is date; the mapping writes text values, which need text or textarea or hidden. "
                          "Left as it is: a person decides")
    assert row.blocking


def test_options_match_on_value_or_label_ignoring_case_and_spaces():
    need = FieldNeed("DIET", "Diet", "checkbox", ("Vegetarian", " vegan ", "Halal"))
    account = Account({"DIET": held("checkbox", [("veg", "Vegetarian"), ("VEGAN", "Plant based")])}, list_known=False)

    field, options = compare(needs(need), account)

    assert (field.state, options.state, options.detail) == ("ok", "missing options", "Halal")
    assert options.sync == "leaves those choices out, with a warning"


def test_every_option_held_is_ok():
    need = FieldNeed("DIET", "Diet", "checkbox", ("Vegan",))
    account = Account({"DIET": held("listbox", [("vegan", "Vegan")])}, list_known=False)
    assert states(compare(needs(need), account)) == [("field DIET", "ok"), ("options DIET", "ok")]


def test_a_field_on_no_list_is_reported_for_a_relation():
    (row,) = compare(needs(FieldNeed("X", "X", "text")), Account({"X": held("text", related=False)}, list_known=False))
    assert (row.state, row.detail) == ("not related", "on no list; --apply relates it to all lists")


def test_a_missing_field_whose_title_another_field_holds_is_named():
    account = Account({"OLD_NAME": held("text", title="badge name")}, list_known=False)
    (row,) = compare(needs(FieldNeed("BADGE_NAME", "Badge Name", "text")), account)
    assert row.detail == "its title “Badge Name” is taken by field OLD_NAME: give the mapping's Field another title"


def test_a_missing_list_without_a_sender_url_names_the_setting():
    without_url = ListNeed("attendees", "Attendees", "", "Why")
    (row,) = compare(needs(list_need=without_url), Account({}, list=None))
    assert (row.state, row.detail) == ("missing", "set CRM_SYNC['LIST_SENDER_URL'] (or PUBLIC_BASE_URL) so that "
                                                  "--apply can create it")


def test_the_list_found_is_ok():
    (row,) = compare(needs(), Account({}, list={"id": "3", "name": "Badge Maker Attendees"}))
    assert (row.item, row.state, row.detail) == ("list badge-maker-attendees", "ok", "“Badge Maker Attendees”")


def test_a_missing_tag_does_not_block_but_a_comma_does():
    rows = compare(needs(tags=["badge-maker", "event:pycon", "a,b"]),
                   Account({}, list={"id": "3"}, tags={"badge-maker": "9"}))

    assert states(rows)[1:] == [("tag badge-maker", "ok"), ("tag event:pycon", "missing"), ("tag a,b", "not allowed")]
    assert [row.blocking for row in rows[1:]] == [False, False, True]
    assert rows[2].sync == "creates it on first use"
    assert Report(rows, datetime.now(timezone.utc)).problems == [rows[3]]


def test_the_report_round_trips_through_json():
    report = Report([Row("field", "X", "missing", "d", "s")], datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc),
                    "https://x.api-us1.com", "apply", [{"item": "field X", "method": "POST", "path": "/api/3/fields",
                                                        "body": {}, "status": 201}], ["field Y: refused"])
    data = report.as_json()
    assert data["fits"] is False and data["rows"][0]["item"] == "field X" and data["rows"][0]["blocking"]
    assert Report.from_json(data) == report


def test_the_table_pads_its_columns():
    lines = table([Row("field", "BADGE_NAME", "ok", "text", "sends its values"),
                   Row("list", "x", "missing", "--apply creates it", "fails")])
    assert lines == [
        "item              state    detail              the sync",
        "----------------  -------  ------------------  ----------------",
        "field BADGE_NAME  ok       text                sends its values",
        "list x            missing  --apply creates it  fails",
    ]


def test_the_list_need_defaults_come_from_the_settings(settings):
    # The name defaults to the stringid, the sender URL to PUBLIC_BASE_URL.
    settings.CRM_SYNC = {**settings.CRM_SYNC, "LIST_NAME": "", "PUBLIC_BASE_URL": "https://badges.example.org"}
    need = schema_needs(with_tags=False).list
    assert (need.name, need.sender_url) == ("badge-maker-attendees", "https://badges.example.org")
    assert LIST_NEED.stringid == need.stringid
