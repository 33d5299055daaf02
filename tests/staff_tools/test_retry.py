""""Retry sync": on selected SyncLog rows, on selected badges or people, and
the button on a badge page. Only staff with crm_sync.retry_sync may."""
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crm_sync.models import SyncLog

pytestmark = pytest.mark.django_db
SYNCLOGS = reverse("admin:crm_sync_synclog_changelist")
BADGES = reverse("admin:badges_badge_changelist")
USERS = reverse("admin:accounts_user_changelist")


@pytest.fixture
def people(make_user, confirm_badge, make_event, make_log):
    """Ada with two badges and two failed attempts; Grace with one badge and one."""
    ada, grace = make_user(email="ada@example.com"), make_user(email="grace@example.com")
    ada_old = confirm_badge(ada, make_event(slug="old", name="Old Con"))
    ada_new = confirm_badge(ada)
    grace_badge = confirm_badge(grace)
    SyncLog.objects.all().delete()
    logs = [make_log(ada, ada_old, status="failed"), make_log(ada, ada_new, status="failed"),
            make_log(grace, grace_badge, status="failed")]
    return {"ada": ada, "grace": grace, "ada_old": ada_old, "ada_new": ada_new, "grace_badge": grace_badge,
            "logs": logs}


def admin_rows():
    return list(SyncLog.objects.filter(trigger=SyncLog.Trigger.ADMIN).order_by("user__email"))


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_retry_selected_rows_queues_one_admin_sync_per_person(retrier, people, captured_syncs,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = retrier.post(SYNCLOGS, {"action": "retry_selected",
                                           "_selected_action": [log.pk for log in people["logs"]]}, follow=True)

    rows = admin_rows()
    assert [(row.user, row.status, row.attempt) for row in rows] == [
        (people["ada"], "queued", 1), (people["grace"], "queued", 1)]
    assert rows[0].badge == people["ada_new"]  # filed under the newest selected row's badge
    assert sorted(sync.log.pk for sync in captured_syncs) == sorted(row.pk for row in rows)
    assert all(sync.log.status == "queued" for sync in captured_syncs)  # captured: no broker, no worker
    first, second = sorted(rows, key=lambda row: row.pk)
    # Each row named by its id and its attempt's number, never one for the other.
    assert messages_of(response) == [
        f"Queued a new sync for 2 people: SyncLog row {first.pk} (attempt 1 for {first.email}); "
        f"SyncLog row {second.pk} (attempt 1 for {second.email})."]


def test_retry_selected_badges(retrier, people):
    response = retrier.post(BADGES, {"action": "retry_crm_sync", "_selected_action": [
        people["ada_old"].pk, people["ada_new"].pk, people["grace_badge"].pk]}, follow=True)

    assert [row.user for row in admin_rows()] == [people["ada"], people["grace"]]
    assert messages_of(response)[0].startswith("Queued a new sync for 2 people: SyncLog row ")


def test_retry_selected_people_files_it_under_their_latest_badge(retrier, people):
    retrier.post(USERS, {"action": "retry_crm_sync", "_selected_action": [people["ada"].pk]})

    (row,) = admin_rows()
    assert (row.user, row.badge) == (people["ada"], people["ada_new"])


def test_retry_button_on_the_badge_page(retrier, people):
    badge_page = reverse("admin:badges_badge_change", args=[people["ada_old"].pk])
    retry_url = reverse("admin:crm_sync_synclog_retry", args=[people["ada"].pk])

    page = retrier.get(badge_page).content.decode()
    response = retrier.post(retry_url, {"badge": people["ada_old"].pk, "next": badge_page}, follow=True)

    assert f'action="{retry_url}"' in page and 'value="Retry sync"' in page
    assert response.redirect_chain[-1][0] == badge_page
    (row,) = admin_rows()
    assert (row.user, row.badge, row.trigger) == (people["ada"], people["ada_old"], "admin")
    assert messages_of(response) == [f"Queued a new sync for 1 person: {row}."]


def test_retry_button_ignores_a_foreign_next_url_and_refuses_someone_elses_badge(retrier, people):
    retry_url = reverse("admin:crm_sync_synclog_retry", args=[people["ada"].pk])

    redirected = retrier.post(retry_url, {"next": "https://evil.example/"})
    wrong_badge = retrier.post(retry_url, {"badge": people["grace_badge"].pk})

    assert redirected["Location"] == f"{SYNCLOGS}?user__id__exact={people['ada'].pk}"
    assert wrong_badge.status_code == 404
    assert retrier.get(retry_url).status_code == 405
    assert len(admin_rows()) == 1


def test_staff_without_the_retry_permission_cannot_retry(viewer, people):
    badge_page = reverse("admin:badges_badge_change", args=[people["ada_new"].pk])

    from_rows = viewer.post(SYNCLOGS, {"action": "retry_selected", "_selected_action": [people["logs"][0].pk]})
    from_badges = viewer.post(BADGES, {"action": "retry_crm_sync", "_selected_action": [people["ada_new"].pk]})
    from_button = viewer.post(reverse("admin:crm_sync_synclog_retry", args=[people["ada"].pk]), {})

    assert from_button.status_code == 403
    assert from_rows.status_code in (200, 302) and from_badges.status_code in (200, 302)
    assert admin_rows() == []
    assert "retry_selected" not in viewer.get(SYNCLOGS).content.decode()
    assert "retry_crm_sync" not in viewer.get(BADGES).content.decode()
    assert 'value="Retry sync"' not in viewer.get(badge_page).content.decode()
