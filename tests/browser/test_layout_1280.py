"""The pages staff and newcomers walk through, at 1280 px wide: nothing hides
behind a horizontal scroll, the admin index has one "CRM sync" section, the
CRM panel starts below the person's form, and the sandbox says which time
zone its times are in."""
import datetime

import pytest
import requests

from django.utils import timezone

from crm_sync.models import Alert, ImportBatch, InboxEvent
from crm_sync.testing import run_syncs_eagerly
from tests.browser.conftest import screenshot
from tests.factories import BadgeFactory, EventFactory, SyncLogFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 1280
LONG_EMAIL = "ada.lovelace.countess.of.lovelace@example-university.co.uk"
# A photo's name as the badge form stores it (40 characters at most): its URL,
# sent as BADGE_IMAGE_URL, is the longest field value a contact has.
LONG_PHOTO = "badges/" + "countess-ada-of-lovelace-portrait-202605" + ".jpg"


def page_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def log_in(page, live_server):
    page.set_viewport_size({"width": WIDTH, "height": 800})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "badgemaker-demo")
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/")


def assert_list_fits(page, name):
    results = page.locator(".results")
    assert results.evaluate("element => element.scrollWidth <= element.clientWidth"), f"{name}: columns behind a scroll"
    assert page_width(page) <= WIDTH, name


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

    log_in(page, live_server)

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
                         event=event, confirmed=True, badge_name="Countess Ada of Lovelace",
                         profile_image=LONG_PHOTO if email == LONG_EMAIL else "")
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
    assert "BADGE_IMAGE_URL" in page.locator("table").first.inner_text()
    assert page_width(page) <= WIDTH
    # The email stays readable: a few characters a line, not one letter under another.
    contacts = page.locator("table").first
    email = contacts.locator("tbody .email", has_text="ada.lovelace").bounding_box()
    assert email["width"] >= 120, f"the Email column collapsed to {email['width']} px"
    photo = contacts.locator("dt", has_text="BADGE_IMAGE_URL").locator("xpath=following-sibling::dd[1]").bounding_box()
    assert photo["width"] >= 120, f"the photo URL's column collapsed to {photo['width']} px"
    for table in ("table", "table.deliveries"):
        assert "(America/Chicago)" in page.locator(table).first.locator("thead").inner_text()
    screenshot(page, "layout-sandbox")


def test_the_alert_inbox_and_import_batch_lists_fit_1280_px(page, live_server):
    UserFactory(superuser=True, email="admin@example.com", password="badgemaker-demo")
    person = UserFactory(email=LONG_EMAIL, last_name="Lovelace-Byron-King")
    now = timezone.now()
    skipped = {"state": "skipped", "error": "no ADMINS to email; set DJANGO_ADMINS"}
    for n, (rule, state) in enumerate([("queued_too_long", "firing"), ("first_pass_rate", "resolved"),
                                       ("bulk_batch_failed", "resolved")]):
        began = now - datetime.timedelta(hours=n + 1)
        deliveries = {"fired:email": skipped, "fired:webhook": {**skipped, "error": "no webhook URL"}}
        if state == "resolved":
            deliveries.update({"resolved:email": skipped, "resolved:webhook": {**skipped, "error": "no webhook URL"}})
        Alert.objects.create(rule=rule, state=state, first_seen_at=began, fired_at=began,
                             resolved_at=began + datetime.timedelta(minutes=7) if state == "resolved" else None,
                             deliveries=deliveries,
                             message=("First-attempt success rate 61% over the last 30 minutes (threshold 90%): "
                                      "38 of 62 first attempts succeeded; most failures: AC server error (5xx) 14, "
                                      "network error or timeout 10"))
    for n, outcome in enumerate(["applied", "ignored", "failed", "pending"]):
        InboxEvent.objects.create(event_type="unsubscribe", initiated_from="public", source="webhook", person=person,
                                  email=LONG_EMAIL, contact_id=str(40 + n), outcome=outcome, dedup_key=f"k{n}",
                                  reason="no person in Badge Maker has this contact or email; nothing changed "
                                         "(AC delivers to every webhook of the account)")
    for n, lane in enumerate(["burst", "resync", "burst"]):
        queued = now - datetime.timedelta(minutes=n * 10 + 5)
        ImportBatch.objects.create(batch_id=f"8f3c{n}a1e-batch-{n}", account_url="https://badgemaker.api-us1.com",
                                   lane=lane, size=250, status="completed" if n else "in_flight", queued_at=queued,
                                   completed_at=queued + datetime.timedelta(seconds=14.2) if n else None)

    log_in(page, live_server)
    for path, name in (("alert", "layout-alert-list"), ("inboxevent", "layout-inbox-list"),
                       ("importbatch", "layout-import-batch-list")):
        page.goto(f"{live_server.url}/admin/crm_sync/{path}/")
        screenshot(page, name)
        assert_list_fits(page, name)
    page.goto(f"{live_server.url}/admin/crm_sync/alert/")
    assert page.locator("td.field-notices").first.inner_text() == "email skipped · webhook skipped"
