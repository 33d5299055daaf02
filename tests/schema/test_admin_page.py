"""The admin's CRM schema page: only for staff with `crm_sync.change_schema`
(superusers have it), POST with CSRF to check or complete the account, the
same rows as the command; the dashboard shows the last check."""
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
SCHEMA_URL = "/admin/crm_sync/schema/"


def staff(client, *perms, superuser=False):
    """`client` logged in as a staff member holding `perms` ("app.codename")."""
    user = UserFactory(staff=True, is_superuser=superuser)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client.force_login(user)
    return client


@pytest.fixture
def schema_staff(client):
    return staff(client, "crm_sync.change_schema", "crm_sync.view_synclog")


def test_the_url_is_the_proxys_changelist():
    assert reverse("admin:crm_sync_schema_changelist") == SCHEMA_URL


def test_staff_without_the_permission_get_403_and_no_link(client, ac_settings, account):
    staff(client, "crm_sync.view_synclog")

    assert client.get(SCHEMA_URL).status_code == 403
    assert client.post(SCHEMA_URL, {"run": "apply"}).status_code == 403
    assert account.calls() == []
    assert "CRM schema" not in client.get(reverse("admin:index")).content.decode()
    dashboard = client.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()
    assert SCHEMA_URL not in dashboard and "Not checked yet" in dashboard


def test_staff_with_the_permission_check_and_complete_the_account(schema_staff, ac_settings, account):
    account.add_field("BADGE_NAME", "date")
    page = schema_staff.get(SCHEMA_URL).content.decode()
    assert "The account has not been checked yet." in page and 'name="csrfmiddlewaretoken"' in page
    assert "CRM schema" in schema_staff.get(reverse("admin:index")).content.decode()

    answer = schema_staff.post(SCHEMA_URL, {"run": "check"}, follow=True)

    page = answer.content.decode()
    assert answer.redirect_chain == [(SCHEMA_URL, 302)]
    assert {method for method, _, _ in account.calls()} == {"GET"}
    assert "The account cannot take every value" in page
    assert "<th scope=\"row\">field BADGE_NAME</th><td class=\"crm-bad\">wrong type</td>" in page
    assert "<th scope=\"row\">field TWITTER</th><td class=\"crm-bad\">missing</td>" in page

    page = schema_staff.post(SCHEMA_URL, {"run": "dry-run"}, follow=True).content.decode()
    assert "nothing was sent" in page and "/api/3/fieldOption/bulk" in page
    assert {method for method, _, _ in account.calls()} == {"GET"}

    page = schema_staff.post(SCHEMA_URL, {"run": "apply"}, follow=True).content.decode()
    assert "What was sent" in page
    assert [path for path, _ in account.writes()][-2:] == ["/lists", "/listGroups"]
    assert "1 to fix" in page  # BADGE_NAME's type, left for a person

    dashboard = schema_staff.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()
    assert "1 to fix</strong>: field BADGE_NAME wrong type" in dashboard and SCHEMA_URL in dashboard


def test_a_superuser_has_the_permission(client, ac_settings, account):
    staff(client, superuser=True)
    assert client.get(SCHEMA_URL).status_code == 200


def test_a_run_needs_the_csrf_token(ac_settings, account):
    client = staff(Client(enforce_csrf_checks=True), "crm_sync.change_schema")
    assert client.get(SCHEMA_URL).status_code == 200  # the permission alone opens the page
    assert client.post(SCHEMA_URL, {"run": "apply"}).status_code == 403
    assert account.calls() == []


def test_an_unreachable_account_is_reported_not_raised(schema_staff, settings):
    settings.ACTIVECAMPAIGN_URL, settings.ACTIVECAMPAIGN_API_KEY = "", ""
    page = schema_staff.post(SCHEMA_URL, {"run": "check"}, follow=True).content.decode()
    assert "Stopped:" in page
