"""The CRM status on the badge and user pages: last attempt, AC contact and
link, and the person's latest attempts."""
import datetime

import pytest
from django.urls import reverse

from crm_sync.admin import HISTORY_LIMIT, contact_url
from crm_sync.models import SyncLog
from tests.factories import ContactStateFactory
from tests.staff_tools.conftest import payload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("account_url, expected", [
    ("https://acme.api-us1.com", "https://acme.activehosted.com/app/contacts/42"),
    ("https://acme.api-us12.com/", "https://acme.activehosted.com/app/contacts/42"),
    ("https://acme.activehosted.com", "https://acme.activehosted.com/app/contacts/42"),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765/"),
    ("http://localhost:8765/api/3", "http://localhost:8765/"),
])
def test_contact_url(account_url, expected):
    assert contact_url(account_url, "42") == expected


def test_contact_url_needs_an_id():
    assert contact_url("https://acme.api-us1.com", "") is None


@pytest.fixture
def ada(make_user, confirm_badge, make_log):
    user = make_user(email="ada@example.com")
    badge = confirm_badge(user)
    SyncLog.objects.all().delete()
    ContactStateFactory(user=user, account_url="https://acme.api-us1.com", ac_contact_id="42",
                        sent={"email": "ada@example.com", "contact": {}, "fields": {}})
    for n in range(HISTORY_LIMIT + 5):
        make_log(user, badge, ago=datetime.timedelta(hours=HISTORY_LIMIT + 5 - n), attempt=n + 1,
                 status="failed", error_category="network")
    make_log(user, badge, payload=payload(), trigger="admin")
    return user, badge


@pytest.mark.parametrize("page", ["badge", "user"])
def test_page_shows_status_link_and_latest_attempts(viewer, ada, page):
    user, badge = ada
    url = (reverse("admin:badges_badge_change", args=[badge.pk]) if page == "badge"
           else reverse("admin:accounts_user_change", args=[user.pk]))

    response = viewer.get(url)
    html = response.content.decode()

    assert response.status_code == 200
    assert 'id="crm-sync-status"' in html
    assert 'href="https://acme.activehosted.com/app/contacts/42"' in html
    assert html.count("<td>Retried from the admin</td>") == 1          # the newest row …
    assert html.count("<td>Badge or profile saved</td>") == HISTORY_LIMIT - 1  # … and the 19 before it
    assert html.index("Retried from the admin") < html.index("Badge or profile saved")
    assert f"?user__id__exact={user.pk}" in html
    assert reverse("admin:crm_sync_synclog_changes", args=[SyncLog.objects.filter(status="success").get().pk]) in html


def test_page_hides_the_status_from_staff_who_may_not_see_sync_logs(client, make_staff, ada):
    user, badge = ada
    staff = make_staff(client, "badges.view_badge", "badges.change_badge")

    html = staff.get(reverse("admin:badges_badge_change", args=[badge.pk])).content.decode()

    assert 'id="crm-sync-status"' not in html


def test_add_pages_still_load(admin_client):
    assert admin_client.get(reverse("admin:badges_badge_add")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_user_add")).status_code == 200
