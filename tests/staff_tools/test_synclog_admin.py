"""The SyncLog list and detail pages: what they show, and who may see and delete."""
import datetime
import json
import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_sync.models import SyncLog
from tests.staff_tools.conftest import payload

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:crm_sync_synclog_changelist")


def change_url(log):
    return reverse("admin:crm_sync_synclog_change", args=[log.pk])


@pytest.fixture
def ada(make_user, confirm_badge):
    user = make_user(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    badge = confirm_badge(user, badge_name="Countess Ada")
    SyncLog.objects.all().delete()  # the confirmation's own queued row
    return user, badge


def test_list_shows_each_attempt_with_its_columns(viewer, ada, make_log):
    user, badge = ada
    log = make_log(user, badge, status="failed", error_category="validation", attempt=2, api_calls=3, seconds=1.5)

    response = viewer.get(CHANGELIST)
    page = response.content.decode()

    columns = [name for name in response.context["cl"].list_display if name != "action_checkbox"]
    assert columns == ["row", "created", "person", "trigger", "outcome", "attempt"]
    for text in (f">{log.pk}</a>", "ada@<wbr>example.com", "Badge or profile saved", "Failed",
                 'title="AC rejected the data (fix the data)">(validation)', '<td class="field-attempt">2</td>'):
        assert text in page
    assert reverse("admin:crm_sync_synclog_dashboard") in page


def test_list_times_are_to_the_second(viewer, ada, make_log):
    user, badge = ada
    log = make_log(user, badge)
    log.created_at = datetime.datetime(2026, 5, 1, 8, 30, 15, tzinfo=datetime.timezone.utc)
    log.save()

    page = viewer.get(CHANGELIST).content.decode()

    assert "1 May 2026, 09:30:15" in page  # Europe/London in May: UTC+1


def test_a_long_email_is_cut_with_the_whole_on_hover(viewer, make_user, confirm_badge):
    confirm_badge(make_user(email="ada.lovelace.countess.of.lovelace@example-university.co.uk"))

    page = viewer.get(CHANGELIST).content.decode()

    assert ('title="ada.lovelace.countess.of.lovelace@example-university.co.uk">'
            "ada.lovelace.countess.o…<wbr></span>") in page


@pytest.mark.parametrize("query, found", [
    ("status__exact=failed", True), ("status__exact=success", False),
    ("error_category__exact=validation", True), ("trigger__exact=admin", False),
    ("q=Lovelace", True), ("q=Countess", True), ("q=ada@example", True), ("q=Babbage", False),
])
def test_filters_and_search(viewer, ada, make_log, make_event, query, found):
    user, badge = ada
    make_log(user, badge, status="failed", error_category="validation")

    response = viewer.get(f"{CHANGELIST}?{query}")

    assert response.status_code == 200
    assert (response.context["cl"].result_count == 1) is found


def test_filter_by_event_and_date(viewer, ada, make_log, make_user, confirm_badge, make_event):
    user, badge = ada
    other_event = make_event(slug="djangocon", name="DjangoCon")
    grace = make_user(email="grace@example.com")
    other_badge = confirm_badge(grace, other_event)
    SyncLog.objects.filter(status="queued").delete()
    make_log(user, badge)
    make_log(grace, other_badge, ago=datetime.timedelta(days=40))
    week_ago = urlencode({"created_at__gte": (timezone.now() - datetime.timedelta(days=7)).isoformat()})

    by_event = viewer.get(f"{CHANGELIST}?badge__event__id__exact={other_event.pk}")
    this_week = viewer.get(f"{CHANGELIST}?{week_ago}")

    assert [log.user for log in by_event.context["cl"].result_list] == [grace]
    assert [log.user for log in this_week.context["cl"].result_list] == [user]


def test_detail_shows_request_and_answer_as_indented_json(viewer, ada, make_log):
    user, badge = ada
    log = make_log(user, badge, payload=payload(fields={"BADGE_NAME": "Countess Ada"}), requests=[
        {"method": "POST", "path": "/api/3/contact/sync", "body": {"contact": {"email": "ada@example.com"}},
         "status": 201, "response": json.dumps({"contact": {"id": "42"}}), "ms": 87},
        {"method": "GET", "path": "/api/3/lists", "body": None, "status": 502,
         "response": "<html>Bad gateway</html>", "ms": 12},
    ])

    page = viewer.get(change_url(log)).content.decode()

    assert '{\n  &quot;contact&quot;: {\n    &quot;id&quot;: &quot;42&quot;' in page  # AC's answer, re-indented
    assert '&quot;email&quot;: &quot;ada@example.com&quot;' in page             # the request body
    assert "&lt;html&gt;Bad gateway&lt;/html&gt;" in page                       # not JSON: shown as text
    assert "POST /api/3/contact/sync" in page and "87 ms" in page
    assert "&quot;BADGE_NAME&quot;: &quot;Countess Ada&quot;" in page           # the payload


def test_detail_folds_each_request_and_opens_the_failing_one(viewer, ada, make_log):
    user, badge = ada
    log = make_log(user, badge, status="failed", error_message="AC answered 502", requests=[
        {"method": "POST", "path": "/api/3/contact/sync", "status": 201, "response": "{}", "ms": 87},
        {"method": "GET", "path": "/api/3/lists", "status": 502, "response": "bad gateway", "ms": 12},
        {"method": "POST", "path": "/api/3/contactLists", "status": None, "response": "", "ms": None},
    ])

    page = viewer.get(change_url(log)).content.decode()

    folds = re.findall(r'<details class="crm-request"( open)?>\s*<summary><strong>(\S+ \S+)</strong>', page)
    assert folds == [("", "POST /api/3/contact/sync"), (" open", "GET /api/3/lists"),
                     (" open", "POST /api/3/contactLists")]


@pytest.mark.parametrize("status, last_open", [("failed", True), ("queued", True), ("success", False)])
def test_detail_opens_the_last_request_of_an_attempt_that_did_not_succeed(viewer, ada, make_log, status, last_open):
    # AC answers its HTML login page with a 200, and import/info a failed batch with a 200 too.
    user, badge = ada
    log = make_log(user, badge, status=status, error_message="AC answered its login page", requests=[
        {"method": "GET", "path": "/api/3/fields", "status": 200, "response": "{}", "ms": 30},
        {"method": "POST", "path": "/api/3/contact/sync", "status": 200, "response": "<html>Log in</html>", "ms": 87},
    ])

    page = viewer.get(change_url(log)).content.decode()

    folds = re.findall(r'<details class="crm-request"( open)?>\s*<summary><strong>(\S+ \S+)</strong>', page)
    assert folds == [("", "GET /api/3/fields"), (" open" if last_open else "", "POST /api/3/contact/sync")]


def test_list_times_name_their_zone(viewer, ada, make_log):
    user, badge = ada
    log = make_log(user, badge)
    for moment, shown in ((datetime.datetime(2026, 5, 1, 8, 30, 15, tzinfo=datetime.timezone.utc),
                           "1 May 2026, 09:30:15 BST"),
                          (datetime.datetime(2026, 1, 5, 8, 30, 15, tzinfo=datetime.timezone.utc),
                           "5 Jan 2026, 08:30:15 GMT")):
        log.created_at = moment
        log.save()

        assert shown in viewer.get(CHANGELIST).content.decode()  # Europe/London: BST in May, GMT in January
        assert shown in viewer.get(change_url(log)).content.decode()


def test_detail_labels_spell_acronyms_and_settings_right(viewer, ada, make_log):
    user, badge = ada
    log = make_log(user, badge, status="success", api_calls=2, lane="")

    page = viewer.get(change_url(log)).content.decode()

    for label in ("Account URL:", "AC contact ID:", "API calls:", "Task ID:", "Burst lane:", "Batch ID:"):
        assert f"<label>{label}</label>" in page, label
    assert "REDACT_AFTER_DAYS" in page and "LOG_RETENTION_DAYS" not in page
    assert "crm_sync/burst.py" not in page  # the help text speaks to staff, not to developers
    assert re.search(r"<label>Burst lane:</label>\s*<div class=\"readonly\">—</div>", page)


def test_a_rescheduled_row_counts_the_requests_it_logged(viewer, ada, make_log):
    from crm_sync.attempts import reschedule

    user, badge = ada
    log = make_log(user, badge, status="running", api_calls=0, requests=[])
    reschedule(log, 5, "waiting for the account's rate limit",
               [{"method": "POST", "path": "/api/3/contact/sync", "status": 429, "response": "", "ms": 9}])

    page = viewer.get(change_url(log)).content.decode()

    assert re.search(r"<label>API calls:</label>\s*<div class=\"readonly\">1</div>", page)


@pytest.mark.parametrize("status, message, shown", [
    ("success", "created in AC", "created in AC"),
    ("failed", "Email address is invalid", "Error: Email address is invalid"),
])
def test_detail_names_the_message_for_what_it_is(viewer, ada, make_log, status, message, shown):
    user, badge = ada
    page = viewer.get(change_url(make_log(user, badge, status=status, error_message=message))).content.decode()

    assert "Error message" not in page
    assert re.search(r"<label>Result:</label>\s*<div class=\"readonly\">" + re.escape(shown) + "</div>", page)


def test_detail_links_to_the_badge_the_persons_attempts_and_what_changed(viewer, ada, make_log):
    user, badge = ada
    log = make_log(user, badge, payload=payload())

    page = viewer.get(change_url(log)).content.decode()

    assert reverse("admin:badges_badge_change", args=[badge.pk]) in page
    assert f"{CHANGELIST}?user__id__exact={user.pk}" in page
    assert reverse("admin:crm_sync_synclog_changes", args=[log.pk]) in page
    assert viewer.get(f"{CHANGELIST}?user__id__exact={user.pk}").context["cl"].result_count == 1


def test_rows_are_read_only(viewer, ada, make_log):
    user, badge = ada
    log = make_log(user, badge)

    assert viewer.get(reverse("admin:crm_sync_synclog_add")).status_code == 403
    response = viewer.post(change_url(log), {"status": "failed"})
    assert response.status_code == 403
    log.refresh_from_db()
    assert log.status == "success"


def test_non_staff_cannot_see_sync_logs(client, make_user, ada, make_log):
    make_log(*ada)
    client.force_login(make_user(is_staff=False))

    response = client.get(CHANGELIST)

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_without_the_view_permission_cannot_see_sync_logs(client, make_staff, ada, make_log):
    log = make_log(*ada)
    staff = make_staff(client, "badges.view_badge")

    assert staff.get(CHANGELIST).status_code == 403
    assert staff.get(change_url(log)).status_code == 403
    assert staff.get(reverse("admin:crm_sync_synclog_dashboard")).status_code == 403
    assert staff.get(reverse("admin:crm_sync_synclog_changes", args=[log.pk])).status_code == 403


def test_superuser_can_delete(admin_client, ada, make_log):
    log = make_log(*ada)

    response = admin_client.post(reverse("admin:crm_sync_synclog_delete", args=[log.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not SyncLog.objects.filter(pk=log.pk).exists()


def test_staff_with_the_delete_permission_still_cannot_delete(client, make_staff, ada, make_log):
    log = make_log(*ada)
    staff = make_staff(client, "crm_sync.view_synclog", "crm_sync.delete_synclog")

    response = staff.post(reverse("admin:crm_sync_synclog_delete", args=[log.pk]), {"post": "yes"})
    bulk = staff.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [log.pk], "post": "yes"})

    assert response.status_code == 403
    assert bulk.status_code in (200, 302)
    assert SyncLog.objects.filter(pk=log.pk).exists()
    assert "delete_selected" not in staff.get(CHANGELIST).content.decode()
