"""What a newcomer does after `scripts/start.sh`, in a real browser: confirm a
badge with the opt-in ticked, see the contact in the AC sandbox and the
attempt in the Django admin."""
import time

import pytest

from tests.browser.conftest import screenshot
from tests.factories import EventFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_confirmed_badge_shows_up_in_the_sandbox_and_the_admin(page, live_server, worker, ac_sandbox, settings):
    EventFactory(name="PyCon Demo 2026", slug="pycon-demo-2026", starts_on="2027-01-20")
    UserFactory(superuser=True, email="admin@example.com", password="badgemaker-demo")

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Make your badge").first.click()
    # Not logged in: the badge page sends the attendee to sign up or log in.
    page.goto(f"{live_server.url}/accounts/signup/?next=/events/pycon-demo-2026/badge/")
    page.fill("input[name=email]", "grace.hopper@example.com")
    page.fill("input[name=first_name]", "Grace")
    page.fill("input[name=last_name]", "Hopper")
    page.fill("input[name=password1]", "a long demo password")
    page.fill("input[name=password2]", "a long demo password")
    page.locator("form button[type=submit], form input[type=submit]").last.click()

    page.wait_for_url("**/events/pycon-demo-2026/badge/")
    page.fill("input[name=badge_name]", "Amazing Grace")
    page.fill("input[name=phone]", "020 7946 0018")
    page.check("input[name=dietary_preferences][value=vegetarian]")
    page.check("input[name=volunteer_interests][value=speaker_support]")
    page.check("input[name=crm_opt_in]")
    screenshot(page, "1-badge-form")
    page.locator("form button[type=submit]").last.click()

    page.wait_for_url("**/badge/review/")
    page.get_by_role("button", name="Confirm my badge").click()
    page.wait_for_url("**/badge/confirmed/")
    assert "Your badge is confirmed" in page.content()
    screenshot(page, "2-confirmation")

    # The list subscription is the sync's last step: wait for it (30 s ceiling; bench/ measures the real figure).
    deadline = time.monotonic() + 30
    contact = None
    while time.monotonic() < deadline:
        contact = ac_sandbox.control.contact("grace.hopper@example.com")
        if contact and contact["lists"]:
            break
        time.sleep(0.5)
    assert contact and contact["lists"], worker.output()[-3000:]
    page.goto(ac_sandbox.url + "/")
    for expected in ("Amazing Grace", "event:pycon-demo-2026", "badge-maker-attendees", "||veg||"):
        assert expected in page.content()
    screenshot(page, "3-sandbox-contact")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/crm_sync/synclog/")
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "badgemaker-demo")
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/crm_sync/synclog/")
    row = page.locator("#result_list tbody tr").filter(has_text="grace.hopper@example.com").first
    assert "Success" in row.inner_text() or "success" in row.inner_text()
    screenshot(page, "4-synclog-admin")
