"""Staff in the admin: find the failed syncs, retry one, see it succeed."""

import pytest
from django.test import Client

from crm_sync.models import SyncLog
from tests.badge_pages import confirm_through_web
from tests.browser.conftest import screenshot
from tests.factories import EventFactory, UserFactory
from tests.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_settings():
    return {"CRM_SYNC_MAX_ATTEMPTS": 1}  # a failure stays failed until someone retries it


def test_staff_filter_failures_retry_one_and_see_it_succeed(page, live_server, worker, ac_sandbox):
    event = EventFactory(name="Retry Con", slug="retry-con", starts_on="2027-04-01")
    UserFactory(superuser=True, email="admin@example.com", password="badgemaker-demo")
    confirm_through_web(Client(), event, "fine@example.com")
    assert wait_for(lambda: SyncLog.objects.filter(email="fine@example.com", status="success").exists(), timeout=30)
    ac_sandbox.control.set_faults(error_rate=1.0, error_statuses=[503])  # AC fails this one
    confirm_through_web(Client(), event, "unlucky@example.com")
    failed = SyncLog.objects.filter(email="unlucky@example.com", status="failed")
    assert wait_for(failed.exists, timeout=30), worker.output()[-3000:]
    ac_sandbox.control.set_faults(error_rate=0.0)  # AC is healthy again

    page.goto(f"{live_server.url}/admin/login/?next=/admin/crm_sync/synclog/")
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "badgemaker-demo")
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/crm_sync/synclog/")
    page.get_by_role("link", name="Failed", exact=True).click()
    page.wait_for_url("**status__exact=failed**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "unlucky@example.com" in rows.first.inner_text()
    screenshot(page, "5-synclog-failures")

    rows.first.locator("th a, td a").first.click()
    page.wait_for_load_state()
    assert "AC server error 503" in page.content()
    screenshot(page, "6-synclog-detail")

    page.go_back()
    rows.first.locator("input[type=checkbox]").check()
    page.select_option("select[name=action]", "retry_selected")
    page.locator("button[name=index]").click()  # "Go"
    assert "Queued a new sync for 1 person" in page.locator("ul.messagelist").inner_text()

    assert wait_for(lambda: SyncLog.objects.filter(email="unlucky@example.com", trigger="admin",
                                                   status="success").exists(), timeout=30), worker.output()[-3000:]
    page.goto(f"{live_server.url}/admin/crm_sync/synclog/?trigger__exact=admin")
    assert "Success" in page.locator("#result_list tbody tr").first.inner_text()
    assert ac_sandbox.control.contact("unlucky@example.com")["lists"] == {"badge-maker-attendees": 1}

    page.goto(f"{live_server.url}/admin/crm_sync/synclog/dashboard/")
    assert "CRM sync dashboard" in page.content()
    screenshot(page, "7-dashboard")
