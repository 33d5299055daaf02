"""A badge name of `<script>alert(1)</script>` typed on the badge page, and an
AC error body holding `<img src=x onerror=alert(1)>` really sent by AC (the
sandbox, over sockets): no admin page (list, detail with its JSON, what
changed, dashboard, the inline history on badge and person pages) and no
sandbox page contains the raw markup; the detail shows it escaped."""
import pytest
import requests
from django.urls import reverse

from badgemaker.badges.models import Badge
from crm_sync.models import SyncLog
from crm_sync.outbox import queue_sync
from crm_sync.attempts import run_attempt
from tests.bad_input.fixtures import synced
from tests.security.hostile_mapping import XSS_BODY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("captured_syncs")]
XSS_NAME = "<script>alert(1)</script>"
AC_HTML_PAGE = "<h1>503 Service Unavailable</h1>"  # the sandbox's 5xx page (crm_sync/sandbox/server.py)


def sync_again(person, badge):
    log = queue_sync(person, badge, trigger=SyncLog.Trigger.ADMIN)
    run_attempt(log.pk).follow_up
    log.refresh_from_db()
    return log


@pytest.fixture
def hostile_history(sandbox_settings, settings, event):
    """Three attempts for one attendee: a success carrying the badge name, a
    422 whose AC body quotes markup back, and a 503 answered with an HTML page."""
    _, success, contact = synced(sandbox_settings, event, "mallory@example.com", badge_name=XSS_NAME,
                                 first_name=XSS_NAME, dietary_preferences=["vegan"])
    assert success.status == "success" and contact["fields"]["BADGE_NAME"] == XSS_NAME  # sent as typed
    badge = Badge.objects.get(user__email="mallory@example.com")

    mapping = settings.CRM_SYNC["MAPPING"]
    settings.CRM_SYNC = {**settings.CRM_SYNC, "MAPPING": "tests.security.hostile_mapping.HostileMapping"}
    refused = sync_again(badge.user, badge)
    settings.CRM_SYNC = {**settings.CRM_SYNC, "MAPPING": mapping}
    assert (refused.status, refused.error_category) == ("failed", "validation")
    assert XSS_BODY in refused.error_message  # AC's own words, quoted
    assert XSS_BODY in refused.requests[-1]["response"]  # AC's body as received

    Badge.objects.filter(pk=badge.pk).update(dietary_requirements="changed, so there is something to send")
    sandbox_settings.control.set_faults(error_rate=1.0, error_statuses=[503])
    broken = sync_again(badge.user, badge)
    sandbox_settings.control.set_faults(error_rate=0.0)
    assert broken.status == "failed" and AC_HTML_PAGE in broken.requests[-1]["response"]
    return badge, success, refused, broken


def test_no_admin_page_and_no_sandbox_page_contains_the_raw_markup(hostile_history, admin_client, sandbox_settings):
    badge, success, refused, broken = hostile_history
    pages = {
        "list": reverse("admin:crm_sync_synclog_changelist"),
        "list, searched": reverse("admin:crm_sync_synclog_changelist") + "?q=mallory",
        "list, failed": reverse("admin:crm_sync_synclog_changelist") + "?status__exact=failed",
        "what changed": reverse("admin:crm_sync_synclog_changes", args=[success.pk]),
        "dashboard": reverse("admin:crm_sync_synclog_dashboard"),
        "badge (inline history)": reverse("admin:badges_badge_change", args=[badge.pk]),
        "person (inline history)": reverse("admin:accounts_user_change", args=[badge.user_id]),
        "badge list": reverse("admin:badges_badge_changelist"),
        "person list": reverse("admin:accounts_user_changelist"),
        "index": reverse("admin:index"),
        **{f"detail {log.pk} ({log.status})": reverse("admin:crm_sync_synclog_change", args=[log.pk])
           for log in SyncLog.objects.all()},
    }
    html = {}
    for name, url in pages.items():
        response = admin_client.get(url)
        assert response.status_code == 200, name
        html[name] = response.content.decode()
    html["sandbox page"] = requests.get(sandbox_settings.url + "/", timeout=10).text
    html["sandbox page (control port)"] = requests.get(sandbox_settings.control_url + "/", timeout=10).text

    for name, text in html.items():
        for markup in (XSS_NAME, XSS_BODY, AC_HTML_PAGE, "<img src=x", "<script>alert"):
            assert markup not in text, (name, markup)

    # Shown, escaped: the data is on the pages, only not as markup.
    refused_page = html[f"detail {refused.pk} (failed)"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in refused_page        # error message and AC's JSON body
    assert "&lt;h1&gt;503 Service Unavailable&lt;/h1&gt;" in html[f"detail {broken.pk} (failed)"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html["what changed"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html["badge (inline history)"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html["sandbox page"]
