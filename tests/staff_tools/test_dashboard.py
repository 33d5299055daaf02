"""The dashboard's figures on a small dataset whose every number is worked out below."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_sync import dashboard
from crm_sync.models import SyncLog
from tests.factories import ContactStateFactory, SyncLogFactory
from tests.staff_tools.conftest import payload

pytestmark = pytest.mark.django_db
S, MIN, H, D = (datetime.timedelta(seconds=1), datetime.timedelta(minutes=1), datetime.timedelta(hours=1),
                datetime.timedelta(days=1))


def attempt(user, badge, start, took, status="success", number=1, category=""):
    return SyncLogFactory(user=user, badge=badge, attempt=number, status=status, error_category=category,
                          created_at=start, seconds=took.total_seconds(),
                          payload=payload() if status == "success" else None)


@pytest.fixture
def dataset(ac_settings, make_user, confirm_badge, make_event, now):
    """Badges, confirmed at the times shown, and their attempts:

    A  opted in,  2 h ago:  attempt 1 success, in AC 30 s after confirming
    B  opted in,  3 d ago:  attempt 1 failed (network), attempt 2 success, in AC after 120 s
    C  opted in, 10 d ago:  attempt 1 failed (validation): never in AC
    D  opted out, 5 h ago:  attempt 1 skipped
    E  opted in, 20 d ago:  attempt 1 success, in AC after 600 s
    F  opted in,  1 h ago:  attempt 1 still queued
    G  opted in, 40 d ago:  success 40 days ago (outside every window)
    H  opted in: a badge of 50 d ago synced then; a new badge 2 d ago not synced since
    """
    event, old_event = make_event(), make_event(slug="old", name="Old Con")
    people = {}

    def person(name, ago, opted_in=True, ev=None):
        user = make_user(email=f"{name.lower()}@example.com", crm_opt_in=opted_in)
        people[name] = (user, confirm_badge(user, ev or event, confirmed_at=now - ago))
        return people[name]

    a, b, c, d, e, f, g = (person("A", 2 * H), person("B", 3 * D), person("C", 10 * D), person("D", 5 * H, False),
                           person("E", 20 * D), person("F", H), person("G", 40 * D))
    h_old = person("H", 50 * D, ev=old_event)
    h = (h_old[0], confirm_badge(h_old[0], event, confirmed_at=now - 2 * D))
    SyncLog.objects.all().delete()  # the rows the confirmations queued

    def confirmed(p):
        return p[1].confirmed_at

    attempt(*a, confirmed(a) + S, 29 * S)
    attempt(*b, confirmed(b) + S, S, "failed", category="network")
    attempt(*b, confirmed(b) + MIN, MIN, number=2)
    attempt(*c, confirmed(c) + S, S, "failed", category="validation")
    attempt(*d, confirmed(d) + S, S, "skipped")
    attempt(*e, confirmed(e) + S, 599 * S)
    attempt(*f, confirmed(f) + S, S, "queued")
    attempt(*g, confirmed(g) + S, S)
    attempt(*h_old, confirmed(h_old) + S, S)
    assert confirmed(h) > confirmed(h_old)

    def synced(p, contact, fields, **account):
        ContactStateFactory(user=p[0], ac_contact_id="1", sent={"email": p[0].email, "contact": contact,
                                                                "fields": fields}, **account)

    synced(a, {"firstName": "A", "lastName": "A"}, {"BADGE_NAME": "A", "TWITTER": "@a"})
    synced(b, {"firstName": "B"}, {"BADGE_NAME": "B"})
    synced(e, {"firstName": "E", "lastName": "E"}, {"BADGE_NAME": "E"})
    synced(g, {"firstName": "G", "lastName": "G"}, {"BADGE_NAME": "G", "TWITTER": "@g"})
    synced(h, {}, {}, account_url="https://another.api-us1.com")  # another account: not counted
    ContactStateFactory(user=c[0], never_sent=True)  # never sent: not counted
    return people


def figures(window):
    return {
        "attempts": window.attempts, "syncs": window.syncs, "in_progress": window.in_progress,
        "first_rate": round(window.first_attempt_rate, 1), "final_rate": round(window.final_rate, 1),
        "time_to_ac": (window.time_to_ac.count, window.time_to_ac.median, window.time_to_ac.p95,
                       window.time_to_ac.p99),
        "failures": window.failures, "confirmed": window.confirmed, "opt_in_rate": round(window.opt_in_rate, 1),
    }


def test_window_figures(dataset, now):
    day, week, month = dashboard.dashboard(now)["windows"]

    assert figures(day) == {
        "attempts": 3, "syncs": 2, "in_progress": 1,       # A and D finished, F queued
        "first_rate": 100.0, "final_rate": 100.0,           # A success, D skipped
        "time_to_ac": (1, 30.0, 30.0, 30.0),                # A only
        "failures": {}, "confirmed": 3, "opt_in_rate": 66.7,  # A, D, F; D opted out
    }
    assert figures(week) == {
        "attempts": 5, "syncs": 3, "in_progress": 1,       # + B's two attempts
        "first_rate": 66.7, "final_rate": 100.0,            # B failed first, succeeded at attempt 2
        "time_to_ac": (2, 30.0, 120.0, 120.0),              # nearest rank of [30, 120]
        "failures": {"Network error or timeout": 1},
        "confirmed": 5, "opt_in_rate": 80.0,                # A, B, D, F, H's new badge
    }
    assert figures(month) == {
        "attempts": 7, "syncs": 5, "in_progress": 1,       # + C and E
        "first_rate": 60.0, "final_rate": 80.0,             # A, D, E first; + B in the end; C never
        "time_to_ac": (3, 120.0, 600.0, 600.0),             # [30, 120, 600]
        "failures": {"Network error or timeout": 1, "AC rejected the data (fix the data)": 1},
        "confirmed": 7, "opt_in_rate": 85.7,                # + C and E
    }


def test_backlog_counts_confirmed_opted_in_badges_not_in_ac_since(dataset, now):
    backlog = dashboard.dashboard(now)["backlog"]

    # C (failed), F (queued) and H's new badge (synced only before it was confirmed).
    assert backlog.count == 3
    assert backlog.oldest == dataset["C"][1].confirmed_at


def test_field_completeness_among_people_synced_to_this_account(dataset, now):
    figures = dashboard.dashboard(now)
    fills = {fill.name: (fill.filled, round(fill.percent, 1), fill.meets_target) for fill in figures["field_fills"]}

    assert figures["synced_people"] == 4  # A, B, E, G
    assert fills["firstName"] == (4, 100.0, True)
    assert fills["lastName"] == (3, 75.0, False)
    assert fills["BADGE_NAME"] == (4, 100.0, True)
    assert fills["TWITTER"] == (2, 50.0, False)
    assert fills["phone"] == (0, 0.0, False)


def test_daily_series(dataset, now):
    days = {day.day: day for day in dashboard.daily(30, now, dashboard.confirmation_to_ac(now - 30 * D))}
    b_day = timezone.localdate(dataset["B"][1].confirmed_at)

    assert len(days) == 30
    assert (days[b_day].syncs, days[b_day].first_attempt_rate, days[b_day].final_rate) == (1, 0.0, 100.0)
    assert days[b_day].median_to_ac == 120.0


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert [dashboard.percentile(values, p) for p in (50, 95, 99)] == [50, 95, 99]
    assert dashboard.percentile([7], 99) == 7 and dashboard.percentile([], 50) is None


@pytest.mark.parametrize("seconds, text", [(None, "—"), (30, "30 s"), (125, "2 min 5 s"), (3600, "1 h"),
                                           (7500, "2 h 5 min"), (90000, "1 d 1 h")])
def test_describe_seconds(seconds, text):
    assert dashboard.describe_seconds(seconds) == text


def test_page_shows_the_figures_targets_and_charts(viewer, dataset):
    response = viewer.get(reverse("admin:crm_sync_synclog_dashboard"))
    html = response.content.decode()

    assert response.status_code == 200
    assert "60.0%" in html and "80.0%" in html                     # success rates, 30 days
    assert "2 min" in html and "10 min" in html                     # median and 95th percentile, 30 days
    assert "target 90%" in html and "target 95%" in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 720 180"') == 2
    assert "<rect" in html and "<script" not in html.split('id="content-main"')[1]
    assert '<p id="crm-backlog"><strong>3</strong>' in html


def test_admin_index_and_changelist_link_to_the_dashboard(viewer):
    url = reverse("admin:crm_sync_synclog_dashboard")

    assert url in viewer.get(reverse("admin:index")).content.decode()
    assert url in viewer.get(reverse("admin:crm_sync_synclog_changelist")).content.decode()


def test_empty_dashboard_loads(viewer):
    response = viewer.get(reverse("admin:crm_sync_synclog_dashboard"))

    assert response.status_code == 200
    assert response.context["backlog"].count == 0


def test_dashboard_tells_the_operator_why_syncs_wait(admin_client):
    from django.urls import reverse

    from crm_sync.breaker import CircuitBreaker
    from crm_sync.conf import ac_account
    from crm_sync.attempts import pause

    CircuitBreaker(ac_account()[0]).open("configuration", "AC refused the API key (403)")
    pause("AC maintenance window")
    page = admin_client.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()
    assert "Open (configuration)</strong>: AC refused the API key (403)" in page
    assert "<strong class=\"crm-bad\">Paused</strong>: AC maintenance window" in page
    assert "0 queued, 0 running" in page


def test_dashboard_names_the_last_days_failures_for_people(viewer):
    for _ in range(2):
        SyncLogFactory(status="failed", error_category="import_failed")
    SyncLogFactory(status="failed", error_category="server_error")

    page = viewer.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()

    assert ('<span title="import_failed">AC&#x27;s bulk importer did not finish the batch (send again)</span>: 2; '
            '<span title="server_error">AC server error (5xx)</span>: 1') in page
    assert "import_failed 2" not in page


def test_the_admin_index_has_one_crm_sync_section_with_the_dashboard_first(viewer):
    response = viewer.get(reverse("admin:index"))

    [crm_sync] = [app for app in response.context["app_list"] if app["name"] == "CRM sync"]
    assert crm_sync["models"][0]["name"] == "Dashboard"
    assert crm_sync["models"][0]["admin_url"] == reverse("admin:crm_sync_synclog_dashboard")
    assert response.content.decode().count(">CRM sync</a>") == 1  # the section's own caption, once


def test_staff_who_may_not_see_attempts_get_no_dashboard_row(client, make_staff):
    staff = make_staff(client, "badges.view_badge")

    app_list = staff.get(reverse("admin:index")).context["app_list"]

    assert "Dashboard" not in [model["name"] for app in app_list for model in app["models"]]
