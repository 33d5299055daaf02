"""Fixtures for what comes back from the CRM: webhook tokens in the
settings, a person crm_sync has synced, the CRM's answer to "what is this
contact's list status?" stubbed at the backend (no HTTP), and events
delivered to the receiver or written to the inbox directly."""
import datetime
import secrets

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_sync import inbox
from crm_sync.crm import SUBSCRIBED
from crm_sync.errors import NotFound
from crm_sync.models import InboxEvent
from tests.factories import ContactStateFactory

# Fresh per run: finding one anywhere is no accident.
TOKEN = secrets.token_urlsafe(32)
OLD_TOKEN = secrets.token_urlsafe(32)
OUR_LIST = "7"


@pytest.fixture
def webhook_settings(ac_settings):
    """The receiver configured with the current token and the one being rotated out."""
    ac_settings.CRM_SYNC = {**ac_settings.CRM_SYNC, "WEBHOOK_TOKENS": [TOKEN, OLD_TOKEN]}
    return ac_settings


def webhook_path(token=TOKEN):
    return reverse("crm_sync:webhook", kwargs={"token": token})


class StubCrm:
    """The backend as processing uses it: our list's id and a contact's
    status on it, as the test sets them; every read recorded."""

    def __init__(self):
        self.statuses = {}
        self.gone = set()
        self.error = None
        self.reads = []

    def list_id(self):
        return OUR_LIST

    def list_status(self, contact_id):
        self.reads.append(contact_id)
        if self.error is not None:
            raise self.error
        if contact_id in self.gone:
            raise NotFound(f"no contact {contact_id}", status=404)
        return self.statuses.get(contact_id)

    def close(self):
        pass


@pytest.fixture
def crm(monkeypatch, webhook_settings):
    """The CRM processing reads list statuses from (crm_sync.inbox builds its backend through make_backend)."""
    stub = StubCrm()
    monkeypatch.setattr(inbox, "make_backend", lambda **kwargs: stub)
    return stub


@pytest.fixture
def ada(make_user, confirm_badge, crm):
    """Ada: opted in, her badge confirmed and synced: contact 42, subscribed."""
    person = make_user(email="ada@example.com", crm_opt_in=True)
    confirm_badge(person)
    ContactStateFactory(user=person, ac_contact_id="42", list_status=SUBSCRIBED)
    crm.statuses["42"] = SUBSCRIBED
    return person


def ac_time(seconds_ago=0):
    """A moment as AC writes `date_time`: ISO 8601 with an offset, whole seconds."""
    moment = timezone.now().replace(microsecond=0) - datetime.timedelta(seconds=seconds_ago)
    return moment.astimezone(datetime.timezone(datetime.timedelta(hours=-5))).isoformat()


def ac_form(event_type="unsubscribe", contact_id="42", email="ada@example.com", when=None, source="public",
            list_id=OUR_LIST, **extra):
    """A webhook body as AC posts it (docs/activecampaign.md §8): form fields with bracketed keys."""
    form = {
        "type": event_type, "date_time": when or ac_time(), "initiated_from": source, "initiated_by": source,
        "list": list_id, "contact[id]": contact_id, "contact[email]": email, "contact[first_name]": "Ada",
        "contact[last_name]": "Lovelace", "contact[tags]": "badge-maker, event:pycon-2026",
        "orgname": "", "customer_acct_name": "PyCon",
    }
    if event_type == "unsubscribe":
        form["unsubscribe[reason]"] = "Too many emails"
    form.update(extra)
    return form


def receive(event_type="unsubscribe", contact_id="42", email="ada@example.com", when=None, source="public",
            list_id=OUR_LIST, inbox_source=InboxEvent.Source.WEBHOOK, reason="Too many emails"):
    """An event written to the inbox as the receiver (or the pull) writes it; `when` an aware datetime."""
    payload = {"type": event_type, "contact": {"id": contact_id, "email": email}, "list": list_id,
               "initiated_from": source}
    if event_type == "unsubscribe":
        payload["unsubscribe"] = {"reason": reason}
    return inbox.receive(source=inbox_source, event_type=event_type, contact_id=contact_id, list_id=list_id,
                         occurred_at=when or timezone.now().replace(microsecond=0), initiated_from=source,
                         email=email, payload=payload)


def processed(event):
    """Run the row as the task does, and read it back."""
    inbox.run(event.pk)
    event.refresh_from_db()
    return event
