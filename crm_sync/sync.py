"""One person's contact, brought in line with the database as it is now.

`plan()` decides what to send, or why nothing, from the person, their
records and what the CRM last got (ContactState); the live sync and the
resync both ask it. `PersonSync` carries a plan out through a CRM backend
(crm.py) and returns a typed `Outcome`. Syncing the person rather than the
event that triggered the sync makes duplicate and out-of-order attempts
converge on the same contact. Knows nothing of Celery or of SyncLog's life
cycle (attempts.py).
"""
from dataclasses import dataclass
from enum import StrEnum

from django.utils import timezone

from .conf import ac_account
from .crm import SUBSCRIBED, UNSUBSCRIBED
from .errors import ContactGone
from .mapping import build_contact_payload, crm_mapping
from .models import ErasureReceipt


class Action(StrEnum):
    SEND = "send"                 # create or update the contact, its tags and list status
    UNSUBSCRIBE = "unsubscribe"   # the person withdrew their opt-in
    NOTHING = "nothing"


class Reason(StrEnum):
    """Why a plan sends nothing (or unsubscribes); the words are the SyncLog's."""

    PERSON_GONE = "the person no longer exists"
    ERASED = "erased from AC at their request: never synced again"
    NO_RECORD = "no confirmed badge"
    NOT_OPTED_IN = "not opted in: not sent to AC"
    ALREADY_UNSUBSCRIBED = "opt-in withdrawn; already unsubscribed, not updated"
    WITHDRAWN = "opt-in withdrawn: unsubscribed from the list"
    UNCHANGED = "unchanged since the last successful sync"


class Done(StrEnum):
    """What an attempt did, in the SyncLog's words."""

    CREATED = "created in AC"
    UPDATED = "updated in AC"
    UNSUBSCRIBED = "opt-in withdrawn: unsubscribed from the list"
    NOTHING = "nothing sent"


@dataclass(frozen=True)
class Plan:
    """What to send for one person, or why nothing."""

    action: Action
    reason: Reason = None
    payload: object = None          # mapping.ContactPayload, for SEND
    contact_due: bool = False       # the contact's values differ from what the CRM holds
    resubscribe: bool = False       # subscribing someone who was unsubscribed
    email_changed: bool = False     # the email differs from the one the CRM holds
    record_id: object = None        # the person's latest confirmed record, if any

    @property
    def log_payload(self):
        """What the SyncLog row keeps of the plan: the contact as meant."""
        if self.payload is None:
            return None
        return {**self.payload.record(), "tags": self.payload.tags, "list_status": SUBSCRIBED}


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended without an error: sent something, or skipped."""

    done: Done
    reason: Reason = None

    @property
    def skipped(self):
        return self.done is Done.NOTHING

    @property
    def message(self):
        return str(self.reason if self.skipped else self.done)


def covers(known, names):
    """Tag names compare case-insensitively, as CRMs compare them."""
    return {name.lower() for name in names} <= {name.lower() for name in known}


def is_unchanged(state, payload):
    """The skip rule: the CRM already holds this record, the contact's tags
    are known and cover the payload's, and the person is subscribed."""
    return (state is not None and state.sent == payload.record() and state.tags_known
            and covers(state.tags, payload.tags) and state.list_status == SUBSCRIBED)


def is_erased(person, account_url):
    """Whether the person's contact in this account was erased at their
    request (crm_sync/erasure.py): whatever they change later, nothing is
    sent again, or the erasure would be undone."""
    return ErasureReceipt.objects.filter(person_pk=str(person.pk), account_url=account_url).exists()


def plan(person, state=None, mapping=None, fit=None, *, attendee=None, erased=None):
    """What to send for `person`, given `state` (their ContactState for the
    account, or None). Reads the person's records; sends nothing. `fit`, the
    CRM backend's, turns the payload's choices into the values the account
    holds before it is compared with what was sent. A caller that has read
    many people at once (the resync) passes what it read: `attendee`
    (mapping.load_many) and `erased` (whether their contact was erased)."""
    mapping = mapping or crm_mapping()
    if person is None:
        return Plan(Action.NOTHING, Reason.PERSON_GONE)
    if erased is None:
        erased = is_erased(person, state.account_url if state is not None else ac_account()[0])
    if erased:
        return Plan(Action.NOTHING, Reason.ERASED)
    if attendee is None:
        attendee = mapping.load(person)
    if not attendee.records:
        return Plan(Action.NOTHING, Reason.NO_RECORD)
    record_id = attendee.latest.pk
    list_status = state.list_status if state else None
    if not mapping.is_opted_in(person):
        if list_status == SUBSCRIBED:
            return Plan(Action.UNSUBSCRIBE, Reason.WITHDRAWN, record_id=record_id)
        if list_status == UNSUBSCRIBED:
            return Plan(Action.NOTHING, Reason.ALREADY_UNSUBSCRIBED, record_id=record_id)
        return Plan(Action.NOTHING, Reason.NOT_OPTED_IN, record_id=record_id)
    payload = build_contact_payload(attendee, mapping)
    if fit is not None:
        fit(payload)
    if is_unchanged(state, payload):
        return Plan(Action.NOTHING, Reason.UNCHANGED, payload=payload, record_id=record_id)
    sent = (state.sent or {}) if state else {}
    return Plan(
        Action.SEND, payload=payload, record_id=record_id,
        contact_due=sent != payload.record() or not (state and state.ac_contact_id),
        resubscribe=list_status == UNSUBSCRIBED,
        email_changed=bool(sent.get("email")) and sent.get("email") != payload.email,
    )


class PersonSync:
    """Carries out one person's plan through `crm` (a crm.CrmBackend),
    keeping their ContactState in step after every request that changed
    something, so an attempt cut short resumes where it stopped."""

    def __init__(self, log, crm, state):
        self.log = log
        self.crm = crm
        self.state = state

    def run(self):
        """Return an Outcome. Raises the errors of errors.py."""
        self.log.ac_contact_id = self.state.ac_contact_id
        the_plan = plan(self.log.user, self.state, fit=self.crm.fit)
        if the_plan.payload is not None:
            self.log.email = the_plan.payload.email
            self.log.warnings = the_plan.payload.warnings
            self.log.payload = the_plan.log_payload
        if the_plan.action is Action.UNSUBSCRIBE:
            return self.withdraw()
        if the_plan.action is Action.NOTHING:
            if the_plan.reason is Reason.ERASED:
                self.log.email = ""  # the erasure redacted their rows; this one keeps no address either
            if the_plan.reason is Reason.UNCHANGED:
                self.state.last_success_at = timezone.now()  # verified in step: the reconciler leaves them alone
                self.state.save(update_fields=["last_success_at", "updated_at"])
            return Outcome(Done.NOTHING, the_plan.reason)

        payload = the_plan.payload
        created = self.send_contact(payload) if the_plan.contact_due else False
        self.attach_tags(payload.tags, created)
        if self.state.list_status != SUBSCRIBED:
            self.set_list_status(SUBSCRIBED)
        self.state.last_success_at = timezone.now()
        self.state.save()
        return Outcome(Done.CREATED if created else Done.UPDATED)

    # -- contact -------------------------------------------------------------
    def send_contact(self, payload):
        """Create or update the contact with every value in one call.
        Returns True if the CRM created a new contact."""
        upserted = self.crm.upsert_contact(payload, contact_id=self.state.ac_contact_id,
                                           previous_email=(self.state.sent or {}).get("email", ""))
        if self.state.ac_contact_id and self.state.ac_contact_id != upserted.contact_id:
            # The CRM gave another contact (ours was deleted there): start its record afresh.
            self.state.tags, self.state.tags_known, self.state.list_status = [], False, None
        self.state.ac_contact_id = upserted.contact_id
        self.state.sent = payload.record()
        self.state.save()
        self.log.ac_contact_id = upserted.contact_id
        return upserted.created

    # -- tags ----------------------------------------------------------------
    def attach_tags(self, names, created):
        """Attach every tag the contact lacks. Never removes a tag."""
        contact_id = self.state.ac_contact_id
        if not self.state.tags_known:
            # Known to the CRM before us: read its tags once, then keep track.
            self.state.tags = [] if created else self.crm.tags_of(contact_id, names)
            self.state.tags_known = True
            self.state.save()
        for name in names:
            if covers(self.state.tags, [name]):
                continue
            try:
                self.crm.add_tag(contact_id, name)
            except ContactGone:
                # Deleted in the CRM: forget it; the retry creates it again.
                self.state.ac_contact_id, self.state.sent = "", None
                self.state.tags, self.state.tags_known, self.state.list_status = [], False, None
                self.state.save()
                raise
            self.state.tags = [*self.state.tags, name]
            self.state.save()

    # -- list ----------------------------------------------------------------
    def set_list_status(self, status):
        self.crm.set_list_status(self.state.ac_contact_id, status,
                                 resubscribe=self.state.list_status == UNSUBSCRIBED)
        self.state.list_status = status
        self.state.save()

    def withdraw(self):
        """Unsubscribe someone who withdrew their opt-in, once; after that
        their contact is no longer updated."""
        if not self.state.ac_contact_id:
            # Imported in bulk (no id yet), or never in the CRM at all.
            email = (self.state.sent or {}).get("email") or self.log.email
            self.state.ac_contact_id = self.crm.find_contact(email)
            if not self.state.ac_contact_id:
                self.state.list_status = None  # not in the CRM at all: nothing to unsubscribe
                self.state.save()
                return Outcome(Done.NOTHING, Reason.NOT_OPTED_IN)
            self.state.save()
        self.set_list_status(UNSUBSCRIBED)
        return Outcome(Done.UNSUBSCRIBED, Reason.WITHDRAWN)
