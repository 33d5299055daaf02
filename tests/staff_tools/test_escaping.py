"""A badge name or an AC answer holding markup never reaches an admin page as markup."""
import datetime
import json

import pytest
from django.urls import reverse

from crm_sync.models import SyncLog
from tests.factories import ContactStateFactory
from tests.staff_tools.conftest import XSS_BODY, XSS_NAME, payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def hostile(make_user, confirm_badge, make_log):
    user = make_user(email="mallory@example.com", first_name=XSS_NAME, last_name=XSS_BODY)
    badge = confirm_badge(user, badge_name=XSS_NAME)
    SyncLog.objects.all().delete()
    ContactStateFactory(user=user, account_url="https://acme.api-us1.com", ac_contact_id="7",
                        sent={"email": user.email, "contact": {"firstName": XSS_NAME}, "fields": {"BADGE_NAME": XSS_NAME}})
    requests = [
        {"method": "POST", "path": "/api/3/contact/sync", "body": {"contact": {"firstName": XSS_NAME}},
         "status": 422, "response": json.dumps({"errors": [{"title": XSS_BODY}]}), "ms": 5},
        {"method": "GET", "path": "/api/3/lists", "body": None, "status": 500, "response": XSS_BODY, "ms": 5},
    ]
    failed = make_log(user, badge, status="failed", error_category="validation", error_message=f"AC said {XSS_BODY}",
                      warnings=[f"BADGE_NAME: {XSS_NAME}"], requests=requests, payload=payload(
                          contact={"firstName": XSS_NAME}, fields={"BADGE_NAME": XSS_NAME}))
    make_log(user, badge, ago=datetime.timedelta(days=2), payload=payload(fields={"BADGE_NAME": "old"}))
    success = make_log(user, badge, payload=payload(contact={"firstName": XSS_NAME}, fields={"BADGE_NAME": XSS_NAME},
                                                    tags=[XSS_NAME]), requests=requests)
    return user, badge, failed, success


def pages(user, badge, failed, success):
    return {
        "list": reverse("admin:crm_sync_synclog_changelist"),
        "search": reverse("admin:crm_sync_synclog_changelist") + "?q=mallory",
        "detail (failed)": reverse("admin:crm_sync_synclog_change", args=[failed.pk]),
        "detail (success)": reverse("admin:crm_sync_synclog_change", args=[success.pk]),
        "what changed": reverse("admin:crm_sync_synclog_changes", args=[success.pk]),
        "dashboard": reverse("admin:crm_sync_synclog_dashboard"),
        "badge page": reverse("admin:badges_badge_change", args=[badge.pk]),
        "user page": reverse("admin:accounts_user_change", args=[user.pk]),
        "badge list": reverse("admin:badges_badge_changelist"),
        "index": reverse("admin:index"),
    }


def test_no_admin_page_renders_the_markup(admin_client, hostile):
    for name, url in pages(*hostile).items():
        response = admin_client.get(url)
        html = response.content.decode()

        assert response.status_code == 200, name
        assert XSS_NAME not in html, name
        assert XSS_BODY not in html, name
        assert "<img src=x" not in html and "<script>alert" not in html, name


def test_the_values_are_shown_escaped(admin_client, hostile):
    user, badge, failed, success = hostile

    detail = admin_client.get(reverse("admin:crm_sync_synclog_change", args=[failed.pk])).content.decode()
    changes = admin_client.get(reverse("admin:crm_sync_synclog_changes", args=[success.pk])).content.decode()
    badge_page = admin_client.get(reverse("admin:badges_badge_change", args=[badge.pk])).content.decode()

    assert "&lt;img src=x onerror=alert(1)&gt;" in detail             # AC's plain-text answer
    assert "&quot;title&quot;: &quot;&lt;img src=x" in detail         # AC's JSON answer, indented
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in changes
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in badge_page      # the history's badge column
