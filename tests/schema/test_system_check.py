"""The system check (crm_sync.W005) warns about a mapping that no longer
fits the account as the last check or sync stored it: no API call, silent
until something is stored, and harmless before `migrate`."""
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses

from crm_sync.catalog import DatabaseCatalogStore
from crm_sync.checks import check_account_schema
from crm_sync.schema import Report, Row, keep_report
from tests.fake_ac import AC_URL

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
FIELDS = {
    "DATE_OF_BIRTH": "date", "TWITTER": "text", "INSTAGRAM": "text", "FACEBOOK": "text", "LINKEDIN": "text",
    "TIKTOK": "text", "EMERGENCY_CONTACT_NAME": "text", "EMERGENCY_CONTACT_PHONE": "text",
    "BADGEMAKER_USER_ID": "hidden", "BADGE_NAME": "text", "BADGE_IMAGE_URL": "text",
    "DIETARY_REQUIREMENTS": "textarea", "LAST_EVENT": "text", "LAST_BADGE_CONFIRMED": "date",
    "EVENTS_ATTENDED": "textarea",
}
DIET = ["Vegetarian", "Vegan", "Pescatarian", "Gluten-free", "Dairy-free", "Nut allergy", "Halal", "Kosher"]
VOLUNTEER = ["Registration desk", "Setup and teardown", "Speaker support", "Photography", "Social media",
             "Accessibility support"]


@pytest.fixture
def stored(ac_settings):
    """The catalog store of the configured account, holding the organisers' fields as a sync stores them."""
    store = DatabaseCatalogStore(AC_URL)
    for n, (perstag, type_) in enumerate(FIELDS.items()):
        store.put("field", perstag, str(n + 1), {"title": perstag.title(), "type": type_, "options": [],
                                                  "related": True})
    for perstag, labels in (("DIETARY_PREFERENCES", DIET), ("VOLUNTEER_INTERESTS", VOLUNTEER)):
        store.put("field", perstag, perstag[:3], {"type": "checkbox", "related": True,
                                                   "options": [{"value": label.lower()[:4], "label": label}
                                                               for label in labels]})
    store.put("list", "badge-maker-attendees", "7")
    return store


def check_without_http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        problems = check_account_schema(None)
        assert len(rsps.calls) == 0
    return problems


def test_silent_until_anything_is_stored(ac_settings):
    assert check_without_http() == []


def test_silent_when_the_stored_account_fits(stored):
    assert check_without_http() == []


def test_warns_about_a_wrong_type_and_missing_options_from_the_store(stored):
    stored.put("field", "BADGE_NAME", "10", {"type": "date", "options": [], "related": True})
    stored.put("field", "VOLUNTEER_INTERESTS", "VOL", {"type": "checkbox", "related": True,
                                                      "options": [{"value": "p", "label": "Photography"}]})
    stored.forget("field", "TIKTOK")

    (warning,) = check_without_http()

    assert warning.id == "crm_sync.W005"
    assert warning.msg == (
        "The mapping no longer fits the CRM account as last read: field TIKTOK: missing; field BADGE_NAME: "
        "wrong type; options VOLUNTEER_INTERESTS: missing options (Registration desk, Setup and teardown, "
        "Speaker support, Social media, Accessibility support).")
    assert "crm_sync_schema" in warning.hint


def test_an_older_store_without_titles_or_relations_and_with_plain_option_values_still_reads(stored):
    stored.put("field", "DIETARY_PREFERENCES", "DIE", {"type": "checkbox", "options": DIET})
    assert check_without_http() == []


def test_a_missing_list_warns_only_once_a_check_has_found_it_missing(stored):
    stored.forget("list")
    assert check_without_http() == []  # the sync may simply not have looked it up yet

    keep_report(stored, Report([Row("list", "badge-maker-attendees", "missing")], datetime.now(timezone.utc)))
    (warning,) = check_without_http()
    assert "list badge-maker-attendees: missing" in warning.msg

    stored.put("list", "badge-maker-attendees", "8")  # a sync found it since
    assert check_without_http() == []


def test_another_accounts_store_is_not_read(stored, settings):
    stored.put("field", "BADGE_NAME", "10", {"type": "date", "options": []})
    settings.ACTIVECAMPAIGN_URL = "https://another.api-us1.com"
    assert check_without_http() == []


def test_manage_py_check_before_migrate_does_not_crash(tmp_path):
    """A database file without crm_sync's tables (before `migrate`): no warning, no traceback."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}", "ACTIVECAMPAIGN_URL": AC_URL,
           "ACTIVECAMPAIGN_API_KEY": "k" * 40, "DJANGO_SETTINGS_MODULE": "badgemaker.settings"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "crm_sync.W005" not in result.stdout + result.stderr
