"""`manage.py crm_sync_schema` against the AC sandbox over sockets: from an
empty account to one a confirmed badge reaches with every field, created in
AC's order and only once; the organisers' own account (option values that
differ from their labels) found complete; a field of the wrong type
reported and left alone."""
import io
import json

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_sync.checks import check_account_schema
from crm_sync.testing import run_syncs_eagerly
from tests.factories import BadgeFactory, UserFactory

pytestmark = pytest.mark.django_db

PERSTAGS = ["DATE_OF_BIRTH", "TWITTER", "INSTAGRAM", "FACEBOOK", "LINKEDIN", "TIKTOK", "EMERGENCY_CONTACT_NAME",
            "EMERGENCY_CONTACT_PHONE", "BADGEMAKER_USER_ID", "BADGE_NAME", "BADGE_IMAGE_URL", "DIETARY_PREFERENCES",
            "VOLUNTEER_INTERESTS", "DIETARY_REQUIREMENTS", "LAST_EVENT", "LAST_BADGE_CONFIRMED", "EVENTS_ATTENDED"]


def crm_sync_schema(*args):
    """Run the command: (exit code, what it printed)."""
    out = io.StringIO()
    try:
        call_command("crm_sync_schema", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def writes_since(sandbox, seq):
    """The paths of the writes the sandbox received after log entry `seq`, in order."""
    return [entry["path"].removeprefix("/api/3").split("?")[0] for entry in sandbox.control.log(seq)
            if entry["method"] != "GET"]


def log_end(sandbox):
    entries = sandbox.control.log()
    return entries[-1]["seq"] if entries else 0


def row(printed, item):
    """The printed table's line for `item`, its columns split apart."""
    line = next(line for line in printed.splitlines() if line.startswith(item + " "))
    return [cell.strip() for cell in line.split("  ") if cell.strip()]


@pytest.fixture
def empty_account(sandbox_settings):
    """crm_sync pointed at a sandbox account with no custom field, list or tag."""
    sandbox_settings.reset(empty=True)
    sandbox_settings.control.set_faults(rate_limit_per_second=100_000)  # a reset restores AC's 5 per second
    return sandbox_settings


def test_from_an_empty_account_to_a_badge_in_ac_with_every_field(empty_account):
    code, printed = crm_sync_schema()
    assert code == 1
    assert [row(printed, f"field {perstag}")[1] for perstag in PERSTAGS] == ["missing"] * 17
    assert row(printed, "options DIETARY_PREFERENCES")[1:3] == [
        "missing options", "Vegetarian, Vegan, Pescatarian, Gluten-free, Dairy-free, Nut allergy, Halal, Kosher"]
    assert row(printed, "options VOLUNTEER_INTERESTS")[1] == "missing options"
    assert row(printed, "list badge-maker-attendees")[1] == "missing"
    assert row(printed, "tag badge-maker") == ["tag badge-maker", "missing", "creates it on first use"]
    assert writes_since(empty_account, 0) == []

    start = log_end(empty_account)
    code, printed = crm_sync_schema("--dry-run")
    assert code == 1 and "Would send (nothing was sent):" in printed
    assert printed.count("POST /api/3/fields ") == 17 and printed.count("POST /api/3/fieldOption/bulk") == 2
    assert writes_since(empty_account, start) == []

    start = log_end(empty_account)
    code, printed = crm_sync_schema("--apply")
    assert code == 0, printed
    assert writes_since(empty_account, start) == (
        ["/fields"] * 17 + ["/fieldRels"] * 17 + ["/fieldOption/bulk"] * 2 + ["/lists", "/listGroups"])
    assert "The account can take every value the mapping writes." in printed

    start = log_end(empty_account)
    assert crm_sync_schema("--apply")[0] == 0
    assert writes_since(empty_account, start) == []
    assert crm_sync_schema()[0] == 0

    catalog = empty_account.control.catalog()
    assert sorted(field["perstag"] for field in catalog["fields"]) == sorted(PERSTAGS)
    assert all(field["relations"] == ["0"] for field in catalog["fields"])
    assert [(item["stringid"], item["name"], item["groups"]) for item in catalog["lists"]] == [
        ("badge-maker-attendees", "Badge Maker Attendees", ["3"])]

    with run_syncs_eagerly() as ran:
        ada = UserFactory(email="ada@example.com", twitter="@ada", instagram="ada.ig", facebook="ada.fb",
                          linkedin="in/ada", tiktok="@adatok", date_of_birth="1990-12-10",
                          emergency_contact_name="Charles", emergency_contact_phone="+44 7911 123456")
        BadgeFactory(user=ada, badge_name="Countess Ada", dietary_preferences=["vegan", "halal"],
                     volunteer_interests=["photography"], dietary_requirements="No peanuts",
                     profile_image="badges/ada.png", confirmed=True)
    assert [(log.status, log.warnings) for log in ran] == [("success", [])], [log.error_message for log in ran]
    contact = empty_account.control.contact("ada@example.com")
    assert sorted(contact["fields"]) == sorted(PERSTAGS)
    assert contact["fields"]["DIETARY_PREFERENCES"] == "||Vegan||Halal||"
    assert contact["lists"] == {"badge-maker-attendees": 1}
    assert contact["tags"] == ["badge-maker", "event:pycon-2026"]


def test_the_organisers_account_fits_although_its_option_values_are_not_its_labels(sandbox_settings):
    catalog = sandbox_settings.control.catalog()
    diet = next(field for field in catalog["fields"] if field["perstag"] == "DIETARY_PREFERENCES")
    assert diet["options"] != diet["option_labels"]  # e.g. value "veg", label "Vegetarian"

    code, printed = crm_sync_schema("--apply")

    assert code == 0, printed
    assert row(printed, "options DIETARY_PREFERENCES")[1:3] == ["ok", "8 of 8"]
    assert writes_since(sandbox_settings, 0) == []


def test_a_field_of_the_wrong_type_is_reported_and_left_alone(empty_account):
    answer = requests.post(empty_account.api_url + "/fields", headers={"Api-Token": empty_account.api_key}, json={
        "field": {"type": "date", "title": "Badge Name", "perstag": "BADGE_NAME"}}, timeout=5)
    assert answer.status_code == 201, answer.text
    start = log_end(empty_account)

    code, printed = crm_sync_schema("--apply")

    assert code == 1
    assert row(printed, "field BADGE_NAME")[1] == "wrong type"
    assert "AC's field is date" in row(printed, "field BADGE_NAME")[2]
    sent = writes_since(empty_account, start)
    assert sent.count("/fields") == 16 and sent.count("/fieldRels") == 16
    badge_name = next(field for field in empty_account.control.catalog()["fields"] if field["perstag"] == "BADGE_NAME")
    assert (badge_name["type"], badge_name["relations"]) == ("date", [])

    # `manage.py check` says so too, from what the command stored, without asking AC.
    start = log_end(empty_account)
    (warning,) = check_account_schema(None)
    assert (warning.id, warning.msg) == (
        "crm_sync.W005", "The mapping no longer fits the CRM account as last read: field BADGE_NAME: wrong type.")
    assert log_end(empty_account) == start


def test_json_output_is_the_report(sandbox_settings):
    code, printed = crm_sync_schema("--json")
    report = json.loads(printed)
    assert code == 0 and report["fits"] is True and report["mode"] == "check"
    assert {"item": "field BADGE_NAME", "kind": "field", "name": "BADGE_NAME", "state": "ok", "detail": "text",
            "sync": "sends its values", "blocking": False} in report["rows"]
