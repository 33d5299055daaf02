"""The pages staff and newcomers walk through, at 1280 px wide: nothing hides
behind a horizontal scroll, the admin index has one "CRM sync" section, the
CRM panel starts below the person's form, and the sandbox says which time
zone its times are in."""
import datetime

import pytest
import requests

from crm_sync.testing import run_syncs_eagerly
from tests.browser.conftest import screenshot
from tests.factories import BadgeFactory, EventFactory, SyncLogFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 1280
LONG_EMAIL = "ada.lovelace.countess.of.lovelace@example-university.co.uk"


def page_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def test_the_admin_fits_1280_px(page, live_server, captured_syncs):
    UserFactory(superuser=True, email="admin@example.com", password="badgemaker-demo")
    event = EventFactory(name="PyCon Demo 2026, the conference with the longest name of them all")
    person = UserFactory(email=LONG_EMAIL, last_name="Lovelace-Byron-King")
    badge = BadgeFactory(user=person, event=event, confirmed=True, badge_name="Countess Ada of Lovelace")
    for n, (status, category) in enumerate([("failed", "configuration"), ("failed", "server_error"),
                                            ("success", ""), ("skipped", ""), ("failed", "import_failed")]):
        SyncLogFactory(user=person, badge=badge, status=status, error_category=category, attempt=n + 1,
                       trigger=["signal", "admin", "resync", "reconcile", "signal"][n],
                       ago=datetime.timedelta(minutes=n))

    page.set_viewport_size({"width": WIDTH, "height": 800})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "badgemaker-demo")
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/")

    assert page.locator("#content-main .app-crm_sync").count() == 1
    assert page.locator("#content-main caption", has_text="CRM sync").count() == 1
    assert page.locator("#content-main .app-crm_sync th[scope=row]").first.inner_text() == "Dashboard"
    screenshot(page, "layout-admin-index")

    page.goto(f"{live_server.url}/admin/crm_sync/synclog/")
    results = page.locator(".results")
    assert results.evaluate("element => element.scrollWidth <= element.clientWidth"), "columns hidden behind a scroll"
    assert page_width(page) <= WIDTH
    screenshot(page, "layout-synclog-list")

    page.goto(f"{live_server.url}/admin/accounts/user/{person.pk}/change/")
    form_bottom = page.locator(".submit-row").last.bounding_box()
    panel = page.locator("#crm-sync-status").bounding_box()
    assert panel["y"] >= form_bottom["y"] + form_bottom["height"], "the CRM panel starts behind the form"
    assert page_width(page) <= WIDTH
    screenshot(page, "layout-user-change")


def test_the_sandbox_page_fits_1280_px_and_names_its_time_zone(page, sandbox_settings, make_user):
    sandbox = sandbox_settings
    event = EventFactory(name="PyCon Demo 2026, the conference with the longest name of them all")
    with run_syncs_eagerly():  # the contacts as crm_sync makes them: fields, tags, list
        for email in (LONG_EMAIL, "grace@example.com"):
            BadgeFactory(user=make_user(email=email, last_name="Lovelace-Byron-King", phone="020 7946 0018"),
                         event=event, confirmed=True, badge_name="Countess Ada of Lovelace")
    # A receiver URL as long as crm_sync's, with its token; nothing listens there.
    webhook = {"name": "crm_sync", "url": "http://127.0.0.1:9/crm/webhooks/activecampaign/" + "t" * 43 + "/",
               "events": ["unsubscribe", "subscribe", "bounce"], "sources": ["public", "admin", "system"]}
    answer = requests.post(f"{sandbox.api_url}/webhooks", json={"webhook": webhook}, timeout=5,
                           headers={"Api-Token": sandbox.api_key})
    assert answer.status_code == 201, answer.text
    sandbox.control.unsubscribe(LONG_EMAIL, reason="Too many emails")
    sandbox.control.wait_for_deliveries(1)

    page.set_viewport_size({"width": WIDTH, "height": 800})
    page.goto(sandbox.url + "/")

    assert LONG_EMAIL in page.locator("table.deliveries").inner_text().replace("\n", "")
    assert page_width(page) <= WIDTH
    for table in ("table", "table.deliveries"):
        assert "(America/Chicago)" in page.locator(table).first.locator("thead").inner_text()
    screenshot(page, "layout-sandbox")
