"""The way back, in a real browser: an attendee unsubscribes on the AC
sandbox's page (as from an organiser's email); AC's webhook reaches the
receiver, a real worker checks it with AC, and staff see the change in the
person's consent history in the Django admin."""
import pytest
from django.core.management import call_command

from crm_sync.models import ConsentRecord, ContactState
from tests.browser.conftest import screenshot
from tests.factories import BadgeFactory, EventFactory, UserFactory
from tests.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
TOKEN = "browser-test-token-" + "k" * 24


def test_an_unsubscribe_on_the_sandbox_page_shows_in_the_persons_consent_history(
        page, live_server, worker, ac_sandbox, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "WEBHOOK_TOKENS": [TOKEN], "WEBHOOK_URL": "",
                         "PUBLIC_BASE_URL": live_server.url}
    call_command("crm_webhooks", "register")
    UserFactory(superuser=True, email="admin@example.com", password="badgemaker-demo")
    ada = UserFactory(email="ada.lovelace@example.com", first_name="Ada", last_name="Lovelace", crm_opt_in=True)
    BadgeFactory(user=ada, event=EventFactory(name="PyCon Demo 2026", slug="pycon-demo-2026"), confirmed=True)
    assert wait_for(lambda: ContactState.objects.filter(user=ada, list_status=1).exists(), timeout=30), \
        worker.output()[-3000:]

    page.goto(ac_sandbox.url + "/")
    row = page.locator("tr").filter(has_text="ada.lovelace@example.com").first
    row.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    screenshot(page, "5-sandbox-unsubscribed")

    record = wait_for(lambda: ConsentRecord.objects.filter(person=ada, source="crm_webhook").first(), timeout=10)
    assert record is not None and record.opted_in is False, worker.output()[-3000:]

    page.goto(f"{live_server.url}/admin/login/?next=/admin/accounts/user/{ada.pk}/change/")
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "badgemaker-demo")
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"**/admin/accounts/user/{ada.pk}/change/")
    history = page.locator("#crm-sync-consent").inner_text()
    assert "opted out" in history.lower() or "Opted out" in history, history
    assert "The CRM (webhook)" in history, history
    screenshot(page, "6-consent-history")
