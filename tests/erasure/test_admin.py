"""The admin's erasure tools, against the fake AC: "Erase from AC" on a
person's page and as an action (both after a confirmation), the read-only
erasure receipts with "Try again now", the dashboard's waiting erasures,
and "What AC holds" with its JSON download. The API key is never shown."""
import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crm_sync.models import ContactState, ErasureReceipt
from tests.fake_ac import API_KEY, LIST_ID

pytestmark = pytest.mark.django_db
USERS = reverse("admin:accounts_user_changelist")
RECEIPTS = reverse("admin:crm_sync_erasurereceipt_changelist")
ERASER = ("crm_sync.add_erasurereceipt", "crm_sync.view_erasurereceipt", "accounts.view_user",
          "accounts.change_user", "crm_sync.view_synclog")
HOLDINGS_VIEWER = ("crm_sync.view_synclog", "accounts.view_user")


def person_page(person):
    return reverse("admin:accounts_user_change", args=[person.pk])


def erase_url(person):
    return reverse("admin:crm_sync_erasurereceipt_erase", args=[person.pk])


def holdings_url(person):
    return reverse("admin:crm_sync_erasurereceipt_holdings", args=[person.pk])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


# -- "Erase from AC" ---------------------------------------------------------------------
def test_the_person_page_offers_erasure_and_what_ac_holds_to_staff_allowed_them(
        fake_ac, synced, client, make_staff):
    ada = synced("ada@example.com")
    staff = make_staff(client, *ERASER)

    html = staff.get(person_page(ada)).content.decode()

    assert f'href="{erase_url(ada)}?next=' in html and "Erase from AC…" in html
    assert f'href="{holdings_url(ada)}"' in html


def test_staff_without_the_permissions_see_neither(fake_ac, synced, client, make_staff):
    ada = synced("ada@example.com")
    staff = make_staff(client, "crm_sync.view_synclog", "accounts.view_user")  # no add_erasurereceipt

    html = staff.get(person_page(ada)).content.decode()
    assert erase_url(ada) not in html
    assert staff.get(erase_url(ada)).status_code == 403
    assert staff.post(erase_url(ada)).status_code == 403
    assert not ErasureReceipt.objects.exists()

    no_history = make_staff(client, "accounts.view_user", "crm_sync.add_erasurereceipt")
    assert no_history.get(holdings_url(ada)).status_code == 403


def test_erasing_from_the_person_page_asks_first_then_erases_and_keeps_the_person(
        fake_ac, synced, client, make_staff, erasures):
    ada = synced("ada@example.com")
    contact_id = ContactState.objects.get(user=ada).ac_contact_id
    staff = make_staff(client, *ERASER)

    confirm = staff.get(erase_url(ada), {"next": person_page(ada)})
    assert confirm.status_code == 200 and "Yes, erase from AC" in confirm.content.decode()
    assert "never synced to AC again" in confirm.content.decode()
    assert not ErasureReceipt.objects.exists() and fake_ac.deleted == []

    with erasures.run():
        response = staff.post(erase_url(ada), {"next": person_page(ada)})

    assert response.status_code == 302 and response["Location"] == person_page(ada)
    receipt = ErasureReceipt.objects.get()
    staff_user = response.wsgi_request.user
    assert (receipt.status, receipt.requested_by, fake_ac.deleted) == ("done", staff_user.username, [contact_id])
    html = staff.get(person_page(ada)).content.decode()
    assert "Never synced again." in html and f"AC deleted contact {contact_id}" in html
    assert "Erase from AC…" not in html  # done: nothing more to erase


def test_the_action_on_the_people_list_confirms_then_erases_each(fake_ac, synced, client, make_staff, erasures):
    ada, grace = synced("ada@example.com"), synced("grace@example.com")
    staff = make_staff(client, *ERASER)
    selected = {"action": "erase_from_crm", "_selected_action": [ada.pk, grace.pk]}

    confirm = staff.post(USERS, selected)
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "ada@example.com" in html and "grace@example.com" in html
    assert not ErasureReceipt.objects.exists()

    with erasures.run():
        response = staff.post(USERS, {**selected, "post": "yes"}, follow=True)

    assert sorted(ErasureReceipt.objects.values_list("person_pk", "status")) == sorted(
        [(str(ada.pk), "done"), (str(grace.pk), "done")])
    assert len(fake_ac.deleted) == 2
    assert any("Erasure queued for 2 people" in message for message in messages_of(response))


# -- the receipts ------------------------------------------------------------------------
def test_receipts_are_read_only_and_a_failed_one_can_be_tried_again(fake_ac, synced, client, make_staff, erasures):
    ada = synced("ada@example.com")
    fake_ac.delete_reply = (422, {"errors": [{"title": "Contact is locked"}]})
    with erasures.run():
        ada.delete()
    receipt = ErasureReceipt.objects.get()
    assert receipt.status == "failed"
    staff = make_staff(client, *ERASER)

    listing = staff.get(RECEIPTS, {"status__exact": "failed"}).content.decode()
    assert f"{receipt.person_pk} (deleted)" in listing and "ada@example.com" not in listing
    page = staff.get(reverse("admin:crm_sync_erasurereceipt_change", args=[receipt.pk])).content.decode()
    assert "Contact is locked" in page and 'name="_save"' not in page
    assert staff.get(reverse("admin:crm_sync_erasurereceipt_add")).status_code == 403
    assert staff.post(reverse("admin:crm_sync_erasurereceipt_delete", args=[receipt.pk])).status_code == 403

    fake_ac.delete_reply = None
    with erasures.run():
        staff.post(RECEIPTS, {"action": "try_again_now", "_selected_action": [receipt.pk]})

    receipt.refresh_from_db()
    assert receipt.status == "done" and len(fake_ac.deleted) == 1


def test_the_dashboard_shows_waiting_erasures_as_a_problem(fake_ac, synced, client, make_staff, erasures):
    ada = synced("ada@example.com")
    fake_ac.delete_reply = (422, {"errors": [{"title": "The monthly contact deletion limit for this account has "
                                                       "been reached", "code": "deletion_limit"}]})
    with erasures.run():
        ada.delete()
    staff = make_staff(client, "crm_sync.view_synclog")

    html = staff.get(reverse("admin:crm_sync_synclog_dashboard")).content.decode()

    row = html[html.index('id="crm-erasures"'):]
    row = row[:row.index("</tr>")]
    assert "1 waiting" in row and "AC&#x27;s monthly deletion limit is reached: raise it in AC" in row


# -- "What AC holds" -----------------------------------------------------------------------
def test_what_ac_holds_shows_the_contact_beside_what_badge_maker_holds(fake_ac, synced, client, make_staff):
    ada = synced("ada@example.com")
    contact_id = ContactState.objects.get(user=ada).ac_contact_id
    staff = make_staff(client, *HOLDINGS_VIEWER)

    response = staff.get(holdings_url(ada))
    html = response.content.decode()

    assert response.status_code == 200
    table = html[html.index('id="crm-holdings"'):html.index("</table>", html.index('id="crm-holdings"'))]
    assert "<td>BADGE_NAME</td>" in table and table.count("<td>Ada</td>") >= 2  # both sides
    assert "badge-maker, event:pycon-2026" in table
    assert "<td>List badge-maker-attendees</td>" in table and table.count("<td>subscribed</td>") == 2
    assert f"Contact {contact_id}." in html
    assert 'href="?download=json"' in html
    assert API_KEY not in html


def test_the_json_download_is_an_attachment_with_fields_tags_and_lists(fake_ac, synced, client, make_staff):
    ada = synced("ada@example.com")
    contact_id = ContactState.objects.get(user=ada).ac_contact_id
    staff = make_staff(client, *HOLDINGS_VIEWER)

    response = staff.get(holdings_url(ada), {"download": "json"})

    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="subject-access-person-{ada.pk}.json"'
    assert API_KEY not in response.content.decode()
    data = json.loads(response.content)
    crm = data["crm"]
    assert (crm["name"], crm["contact_id"], crm["contact"]["email"]) == ("AC", contact_id, "ada@example.com")
    assert {"perstag": "BADGE_NAME", "value": "Ada"}.items() <= next(
        item for item in crm["field_values"] if item["perstag"] == "BADGE_NAME").items()
    assert sorted(tag["name"] for tag in crm["tags"]) == ["badge-maker", "event:pycon-2026"]
    assert crm["lists"] == [{"id": LIST_ID, "stringid": "badge-maker-attendees", "name": "Badge Maker Attendees",
                             "status": 1}]
    assert "links" not in crm["contact"]
    assert data["badge_maker"]["email"] == "ada@example.com" and data["badge_maker"]["opted_in"] is True
    assert data["badge_maker"]["fields"]["BADGE_NAME"] == "Ada"


def test_what_ac_holds_after_an_erasure_is_nothing(fake_ac, synced, client, make_staff, erasures):
    ada = synced("ada@example.com")
    with erasures.run():
        make_staff(client, *ERASER).post(erase_url(ada))
    staff = client

    html = staff.get(holdings_url(ada)).content.decode()

    assert "AC holds no contact with this person&#x27;s email." in html
    assert "Erasure requested" in html
