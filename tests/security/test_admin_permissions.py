"""SyncLog pages and actions only for staff with the right permissions:
anonymous visitors and attendees are sent to the admin login, staff without
the permission get 403, and nothing is queued or deleted on their behalf."""
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from crm_sync.models import SyncLog
from tests.factories import SyncLogFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("captured_syncs")]
SECRET_ERROR = "AC said: the very private error text"


@pytest.fixture
def row(make_user, confirm_badge):
    person = make_user(email="ada@example.com")
    badge = confirm_badge(person)
    SyncLog.objects.all().delete()
    return SyncLogFactory(user=person, badge=badge, status="success", error_message=SECRET_ERROR,
                          payload={"email": person.email})


def read_pages(log):
    return {
        "list": reverse("admin:crm_sync_synclog_changelist"),
        "detail": reverse("admin:crm_sync_synclog_change", args=[log.pk]),
        "what changed": reverse("admin:crm_sync_synclog_changes", args=[log.pk]),
        "dashboard": reverse("admin:crm_sync_synclog_dashboard"),
        "history": reverse("admin:crm_sync_synclog_history", args=[log.pk]),
        "delete": reverse("admin:crm_sync_synclog_delete", args=[log.pk]),
    }


def logged_in(make_user, *perms, staff=True):
    user = make_user(email=f"staff-{len(perms)}-{staff}@example.com", is_staff=staff, crm_opt_in=False)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def retry(client, log):
    return client.post(reverse("admin:crm_sync_synclog_retry", args=[log.user_id]), {"next": "/admin/"})


def retry_action(client, log):
    return client.post(reverse("admin:crm_sync_synclog_changelist"),
                       {"action": "retry_selected", "_selected_action": [log.pk]})


def admin_rows():
    return SyncLog.objects.filter(trigger=SyncLog.Trigger.ADMIN).count()


@pytest.mark.parametrize("who", ["anonymous", "attendee"])
def test_anonymous_visitors_and_attendees_are_sent_to_the_login(row, make_user, who):
    client = Client() if who == "anonymous" else logged_in(make_user, staff=False)
    for name, url in read_pages(row).items():
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("admin:login")), name
    for response in (retry(client, row), retry_action(client, row)):
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert admin_rows() == 0 and SyncLog.objects.filter(pk=row.pk).exists()


def test_staff_without_the_view_permission_get_403_and_see_no_history(row, make_user):
    client = logged_in(make_user, "badges.view_badge", "badges.change_badge", "accounts.view_user")
    for name, url in read_pages(row).items():
        assert client.get(url).status_code == 403, name
    assert retry(client, row).status_code == 403
    assert retry_action(client, row).status_code == 403
    # The badge and person pages they may see carry no CRM panel.
    for url in (reverse("admin:badges_badge_change", args=[row.badge_id]),
                reverse("admin:accounts_user_change", args=[row.user_id])):
        response = client.get(url)
        assert response.status_code == 200
        assert SECRET_ERROR not in response.content.decode() and "Retry sync" not in response.content.decode()
    assert admin_rows() == 0


def test_viewers_read_but_may_neither_retry_nor_delete(row, make_user, captured_syncs,
                                                       django_capture_on_commit_callbacks):
    client = logged_in(make_user, "crm_sync.view_synclog", "badges.view_badge", "badges.change_badge")
    pages = read_pages(row)
    for name in ("list", "detail", "what changed", "dashboard", "history"):
        assert client.get(pages[name]).status_code == 200, name
    assert client.get(pages["delete"]).status_code == 403
    assert client.post(pages["delete"], {"post": "yes"}).status_code == 403
    assert "retry_selected" not in client.get(pages["list"]).content.decode()
    badge_page = client.get(reverse("admin:badges_badge_change", args=[row.badge_id])).content.decode()
    assert reverse("admin:crm_sync_synclog_retry", args=[row.user_id]) not in badge_page
    with django_capture_on_commit_callbacks(execute=True):
        assert retry(client, row).status_code == 403
        retry_action(client, row)
    assert admin_rows() == 0 and list(captured_syncs) == []
    assert SyncLog.objects.filter(pk=row.pk).exists()


def test_retry_needs_post_even_with_the_permission(row, make_user):
    client = logged_in(make_user, "crm_sync.view_synclog", "crm_sync.retry_sync")
    assert client.get(reverse("admin:crm_sync_synclog_retry", args=[row.user_id])).status_code == 405
    assert admin_rows() == 0


def test_retry_refuses_a_next_url_on_another_site(row, make_user):
    client = logged_in(make_user, "crm_sync.view_synclog", "crm_sync.retry_sync")
    response = client.post(reverse("admin:crm_sync_synclog_retry", args=[row.user_id]),
                           {"next": "https://evil.example.org/phish"})
    assert response.status_code == 302 and "evil.example.org" not in response["Location"]
    assert admin_rows() == 1


def test_only_superusers_may_delete_a_row(row, make_user):
    client = logged_in(make_user, "crm_sync.view_synclog", "crm_sync.delete_synclog", "crm_sync.retry_sync")
    assert client.post(read_pages(row)["delete"], {"post": "yes"}).status_code == 403
    assert SyncLog.objects.filter(pk=row.pk).exists()


def test_the_retry_post_is_csrf_protected(row, make_user):
    client = logged_in(make_user, "crm_sync.view_synclog", "crm_sync.retry_sync")
    client.handler.enforce_csrf_checks = True
    assert retry(client, row).status_code == 403
    assert admin_rows() == 0
