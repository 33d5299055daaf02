"""Fixtures for the staff tools' tests: staff with chosen permissions, SyncLog
rows made directly (no worker runs here), and no broker: what staff queue is
captured (`captured_syncs`)."""
import pytest
from django.contrib.auth.models import Permission

from tests.factories import SyncLogFactory

XSS_NAME = "<script>alert(1)</script>"
XSS_BODY = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def captured_syncs(captured_syncs):
    """Every test here: the syncs staff queue are captured, never dispatched to a broker."""
    return captured_syncs


@pytest.fixture
def make_staff(make_user):
    """A logged-in test client for a staff member holding `perms` ("app.codename")."""

    def make(client, *perms, superuser=False):
        user = make_user(staff=True, is_superuser=superuser)
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
    """A finished SyncLog row (tests.factories.SyncLogFactory); `ago` (a timedelta) sets when it ran."""

    def make(user=None, badge=None, **fields):
        return SyncLogFactory(user=user, badge=badge, **fields)

    return make


def payload(email="ada@example.com", contact=None, fields=None, tags=("badge-maker",), list_status=1):
    """A SyncLog row's payload: the contact as meant (sync.Plan.log_payload)."""
    return {"email": email, "contact": contact or {"firstName": "Ada"}, "fields": fields or {},
            "tags": list(tags), "list_status": list_status}
