"""Fixtures for the admin tests: staff with chosen permissions, SyncLog rows
made directly (no worker runs here), and no broker."""
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from crm_sync.models import SyncLog

XSS_NAME = "<script>alert(1)</script>"
XSS_BODY = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def no_broker():
    """Dispatch never reaches Celery; tests assert on the mock where it matters."""
    with mock.patch("crm_sync.tasks.sync_person.apply_async") as apply_async:
        yield apply_async


@pytest.fixture
def make_staff(make_user):
    """A logged-in test client for a staff member holding `perms` ("app.codename")."""

    def make(client, *perms, superuser=False):
        user = make_user(crm_opt_in=False, is_staff=True, is_superuser=superuser)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client.force_login(user)
        return client

    return make


@pytest.fixture
def viewer(client, make_staff):
    return make_staff(client, "crm_sync.view_synclog", "badges.view_badge", "badges.change_badge",
                      "accounts.view_user")


@pytest.fixture
def retrier(client, make_staff):
    return make_staff(client, "crm_sync.view_synclog", "crm_sync.retry_sync", "badges.view_badge",
                      "badges.change_badge", "accounts.view_user", "accounts.change_user")


@pytest.fixture
def make_log(db):
    """A finished SyncLog row; `ago` (a timedelta) sets when it ran."""

    def make(user=None, badge=None, ago=None, status=SyncLog.Status.SUCCESS, seconds=1.0, **fields):
        created = timezone.now() - (ago or timezone.timedelta(minutes=5))
        finished = None if status in (SyncLog.Status.QUEUED, SyncLog.Status.RUNNING) else (
            created + timezone.timedelta(seconds=seconds))
        defaults = {
            "user": user, "badge": badge, "email": user.email if user else "", "status": status,
            "created_at": created, "started_at": created if finished else None, "finished_at": finished,
        }
        return SyncLog.objects.create(**{**defaults, **fields})

    return make


def payload(email="ada@example.com", contact=None, fields=None, tags=("badge-maker",), list_status=1):
    return {"email": email, "contact": contact or {"firstName": "Ada"}, "fields": fields or {},
            "tags": list(tags), "list_status": list_status}
