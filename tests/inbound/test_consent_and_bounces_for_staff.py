"""What staff and attendees see and leave behind: consent history and an
undeliverable address on the person's admin page, the dashboard's count,
consent changes recorded from the badge page and the admin, and the inbox
in the admin (read-only, filterable, "Process again")."""
import datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from badgemaker.accounts.forms import CONSENT
from crm_sync import inbox
from crm_sync.crm import UNSUBSCRIBED
from crm_sync.errors import ServerError
from crm_sync.models import ConsentRecord, InboxEvent
from tests.badge_pages import badge_form
from tests.factories import EventFactory
from tests.inbound.conftest import processed, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, make_user):
    """A logged-in member of staff who can see people, sync logs and the inbox, and retry."""
    user = make_user(staff=True)
    for app_label, codename in [("accounts", "view_user"), ("accounts", "change_user"), ("badges", "view_badge"),
                                ("crm_sync", "view_synclog"), ("crm_sync", "view_inboxevent"),
                                ("crm_sync", "retry_sync")]:
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client.force_login(user)
    return client


def person_page(client, person):
    return client.get(reverse("admin:accounts_user_change", args=[person.pk])).content.decode()


# -- bounces ----------------------------------------------------------------------------------
def test_a_hard_bounce_shows_on_the_person_page_and_the_dashboard(staff, ada, crm):
    event = processed(receive("bounce", when=timezone.now().replace(microsecond=0)))

    html = person_page(staff, ada)
    dashboard = staff.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()

    assert event.outcome == "applied"
    assert 'id="crm-sync-bounce"' in html and "undeliverable" in html and "ada@example.com" in html
    assert inbox.is_undeliverable(ada)
    assert "1</strong> person's address hard-bounced" in dashboard
    assert crm.reads == []  # a bounce needs no read back


def test_a_new_email_clears_the_bounce(staff, ada, crm):
    processed(receive("bounce"))

    ada.email = "ada@newmail.example"
    ada.save()

    assert not inbox.is_undeliverable(ada)
    assert 'id="crm-sync-bounce"' not in person_page(staff, ada)
    assert "none reported by AC" in staff.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()


def test_a_bounce_of_an_old_address_is_ignored(ada, crm):
    event = processed(receive("bounce", email="ada@oldmail.example"))

    assert (event.outcome, event.reason) == ("ignored", "the bounced address is no longer the person's")
    assert not inbox.is_undeliverable(ada)


def test_a_soft_bounce_is_ignored(ada, crm):
    event = receive("bounce")
    InboxEvent.objects.filter(pk=event.pk).update(payload={**event.payload, "bounce": {"type": "soft"}})

    assert processed(event).outcome == "ignored"
    assert not inbox.is_undeliverable(ada)


# -- consent history ----------------------------------------------------------------------------
def test_the_person_page_shows_the_consent_history_newest_first(staff, ada, crm):
    ConsentRecord.objects.create(person=ada, opted_in=True, source="badge_page", wording=CONSENT,
                                 changed_at=timezone.now() - datetime.timedelta(days=3))
    crm.statuses["42"] = UNSUBSCRIBED
    processed(receive("unsubscribe", reason="Too <b>many</b> emails"))

    html = person_page(staff, ada)

    table = html[html.index('id="crm-sync-consent"'):]
    table = table[:table.index("</table>")]
    assert table.index("The CRM (webhook)") < table.index("The badge page")
    assert "opted out" in table and "opted in" in table
    assert "Too &lt;b&gt;many&lt;/b&gt; emails" in table  # AC's reason, escaped
    assert "Yes, the organisers may email me" in table     # the wording shown on the badge page
    rows = staff.get(reverse("admin:crm_sync_inboxevent_changelist"), {"person__id__exact": ada.pk})
    assert f"?person__id__exact={ada.pk}" in html and rows.context["cl"].result_count == 1


def test_the_badge_page_records_a_change_of_consent_with_its_wording(client, make_user):
    event = EventFactory()
    person = make_user(email="grace@example.com", crm_opt_in=False)
    client.force_login(person)

    client.post(reverse("badges:badge", args=[event.slug]), badge_form("grace@example.com", opt_in=True))
    client.post(reverse("badges:badge", args=[event.slug]), badge_form("grace@example.com", opt_in=True,
                                                                        badge_name="Amazing Grace"))
    client.post(reverse("badges:badge", args=[event.slug]), badge_form("grace@example.com", opt_in=False))

    records = list(ConsentRecord.objects.filter(person=person).order_by("changed_at"))
    assert [(record.opted_in, record.source) for record in records] == [(True, "badge_page"),
                                                                        (False, "badge_page")]
    assert records[0].wording == CONSENT  # the words the attendee was shown
    person.refresh_from_db()
    assert person.crm_opt_in is False


def test_staff_changing_the_opt_in_in_the_admin_is_recorded(staff, ada):
    page = staff.get(reverse("admin:accounts_user_change", args=[ada.pk]))
    form = {key: value for key, value in page.context["adminform"].form.initial.items()
            if value is not None and key not in ("password", "groups", "user_permissions", "crm_opt_in",
                                                 "last_login", "date_joined", "date_of_birth")}
    form.update({"date_joined_0": "2026-01-01", "date_joined_1": "10:00:00", "is_active": "on"})

    response = staff.post(reverse("admin:accounts_user_change", args=[ada.pk]), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    ada.refresh_from_db()
    [record] = ConsentRecord.objects.filter(person=ada)
    assert (ada.crm_opt_in, record.opted_in, record.source) == (False, False, "admin")
    assert "changed by staff user" in record.reason


# -- the inbox in the admin ---------------------------------------------------------------------
@pytest.fixture
def rows(ada, crm):
    crm.statuses["42"] = UNSUBSCRIBED
    applied = processed(receive("unsubscribe"))
    ignored = processed(receive("update"))
    crm.error = ServerError("AC answered 503", status=503)
    failed = processed(receive("subscribe", when=timezone.now() - datetime.timedelta(hours=1), source="public"))
    ada.crm_opt_in = False  # as the applied unsubscribe left her
    return {"applied": applied, "ignored": ignored, "failed": failed}


def test_the_inbox_lists_rows_and_filters_them(staff, rows):
    changelist = reverse("admin:crm_sync_inboxevent_changelist")

    everything = staff.get(changelist)
    only_failed = staff.get(changelist, {"outcome__exact": "failed"})
    only_updates = staff.get(changelist, {"event_type": "update"})

    assert everything.status_code == 200
    assert everything.context["cl"].result_count == 3
    assert [row.pk for row in only_failed.context["cl"].result_list] == [rows["failed"].pk]
    assert [row.pk for row in only_updates.context["cl"].result_list] == [rows["ignored"].pk]


def test_a_row_shows_what_it_changed_and_cannot_be_edited(staff, rows):
    url = reverse("admin:crm_sync_inboxevent_change", args=[rows["applied"].pk])

    html = staff.get(url).content.decode()
    refused = staff.post(url, {"outcome": "pending"})

    assert "opted out in Badge Maker" in html and "The CRM (webhook)" in html and "Too many emails" in html
    assert refused.status_code == 403
    assert staff.get(reverse("admin:crm_sync_inboxevent_add")).status_code == 403


def test_process_again_queues_failed_rows_only(staff, rows, crm, django_capture_on_commit_callbacks):
    dispatched = []
    with inbox.handoff(lambda event_id, countdown=None: dispatched.append(event_id) or True), \
            django_capture_on_commit_callbacks(execute=True):
        response = staff.post(reverse("admin:crm_sync_inboxevent_changelist"), {
            "action": "process_again", "_selected_action": [row.pk for row in rows.values()]}, follow=True)

    assert "Queued 1 failed row to be processed again." in response.content.decode()
    assert dispatched == [rows["failed"].pk]
    assert InboxEvent.objects.get(pk=rows["failed"].pk).outcome == "pending"


def test_staff_without_the_retry_permission_cannot_process_again(client, make_user, rows):
    viewer = make_user(staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_inboxevent"))
    client.force_login(viewer)

    client.post(reverse("admin:crm_sync_inboxevent_changelist"), {
        "action": "process_again", "_selected_action": [rows["failed"].pk]})

    assert InboxEvent.objects.get(pk=rows["failed"].pk).outcome == "failed"
