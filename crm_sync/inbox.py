"""What the CRM tells us: one InboxEvent row per event (a webhook delivery
or a change the periodic pull found), worked off by a task after commit.

    receive ──► InboxEvent (pending) ──on commit──► Celery ──► tasks.process_inbox_event ──► run ──► process
                      ▲                                                                      │
                      └──────────── sweep (beat): pending rows the broker never took,  ◄────┘ failed: tried again
                                    failed rows whose backoff has passed                         with backoff

The row is the guarantee nothing is lost, like the outbox (outbox.py): if
the broker is down it waits for the sweep. AC delivers at least once and
gives no event id, so rows are deduplicated on what identifies an event
(docs/activecampaign.md §11.2). A webhook is only a notification: before
consent changes, the contact's list status is read back from the CRM, so a
forged or stale event changes nothing the CRM itself does not confirm.
The rules are in `process`; docs/webhooks.md has them as a table.
"""
import hashlib
import json
import logging
from datetime import timedelta, timezone as dt_timezone
from enum import StrEnum

from django.core.exceptions import FieldError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .attempts import backoff, is_paused
from .breaker import CircuitBreaker, CircuitOpen
from .conf import ac_account, crm_setting
from .connection import make_backend
from .consent import record_consent
from .crm import SUBSCRIBED, UNSUBSCRIBED
from .errors import CrmError, NotFound
from .events import log_event
from .limiter import RateLimitWait
from .locks import PERSON_BUSY_WAIT, PersonBusy, holding_person
from .mapping import crm_mapping
from .metrics import record_inbox_event
from .models import ConsentRecord, ContactState, InboxEvent
from .publisher import Publisher

logger = logging.getLogger(__name__)
Outcome = InboxEvent.Outcome
OPEN = (Outcome.PENDING, Outcome.FAILED)
PROCESS_TASK = "crm_sync.tasks.process_inbox_event"
# Like the outbox's (crm_sync/publisher.py): a webhook never waits on a dead
# broker for more than a second; the row waits for the sweep either way.
publisher = Publisher(PROCESS_TASK, "inbox row")
dispatch = publisher.dispatch
handoff = publisher.handoff  # tests run rows in-process with it


class Reason(StrEnum):
    """Why processing changed nothing; the words are the inbox row's."""

    NO_PERSON = "no person in Badge Maker has this contact/email"
    NOT_OUR_LIST = "about another list, not crm_sync's"
    NO_CONTACT_ID = "no contact id to check with AC"
    CONTACT_GONE = "AC no longer has this contact"
    ECHO = "echo of crm_sync's own change: already so here and in AC"
    ALREADY_OPTED_OUT = "already opted out in Badge Maker; the person's next sync unsubscribes them"
    ALREADY_OPTED_IN = "already opted in in Badge Maker; the person's next sync subscribes them"
    STILL_SUBSCRIBED = "AC says the contact is still subscribed: forged or stale"
    NOT_SUBSCRIBED = "AC says the contact is not subscribed: forged or stale"
    NOT_PUBLIC = "recorded only: an admin or automation cannot consent for the attendee"
    OLDER = "older than the person's latest consent change"
    SOFT_BOUNCE = "a soft bounce: the address may work again"
    OLD_ADDRESS = "the bounced address is no longer the person's"
    ALREADY_BOUNCED = "the address is already marked undeliverable"
    NOT_ACTED_ON = "not an event crm_sync acts on"


class Done(StrEnum):
    """What processing changed; the words are the inbox row's."""

    OPTED_OUT = "opted out in Badge Maker (AC confirms the unsubscribe); list status set to unsubscribed"
    OPTED_IN = "opted in again in Badge Maker (AC confirms the contact subscribed); list status set to subscribed"
    BOUNCED = "address marked undeliverable (hard bounce); shown until the person's email changes"


# -- receiving ---------------------------------------------------------------------
def dedup_key(event_type, contact_id, list_id, occurred_at, payload=None):
    """sha256 of type, contact id, list and time: what identifies an event
    (AC gives no event id, docs/activecampaign.md §11.2). The time is
    normalised to UTC, so a webhook and a pull that report it in other
    offsets are one event. Without a time, the payload stands in for it, so
    that two different timeless events are never taken for one."""
    if occurred_at is not None:
        when = occurred_at.astimezone(dt_timezone.utc).isoformat()
    else:
        when = "payload:" + json.dumps(payload or {}, sort_keys=True, default=str)
    text = "|".join([str(event_type), str(contact_id), str(list_id), when])
    return hashlib.sha256(text.encode()).hexdigest()


def receive(*, source, event_type, contact_id, list_id, occurred_at, initiated_from, email, payload):
    """Write the inbox row for one event and dispatch its processing when the
    transaction commits. Returns the row, or None when the same event is
    already in the inbox (a duplicate delivery, or the pull finding what a
    webhook brought). `occurred_at` is an aware datetime or None."""
    key = dedup_key(event_type, contact_id, list_id, occurred_at, payload)
    try:
        with transaction.atomic():
            event = InboxEvent.objects.create(
                source=source, event_type=str(event_type)[:40], contact_id=str(contact_id or "")[:32],
                list_id=str(list_id or "")[:32], occurred_at=occurred_at,
                initiated_from=str(initiated_from or "")[:20], email=str(email or "").strip().lower()[:254],
                payload=payload or {}, dedup_key=key, account_url=ac_account()[0],
            )
    except IntegrityError:
        if InboxEvent.objects.filter(dedup_key=key).exists():
            return None
        raise
    transaction.on_commit(lambda: publisher.dispatch_soon(event.pk), robust=True)
    return event


# -- handing rows to Celery ------------------------------------------------------------
def sweep(now=None):
    """Dispatch rows left behind (beat runs this): pending rows overdue by
    `QUEUED_SWEEP_AFTER` (the broker never took them, or lost them), and
    failed rows whose backoff ran out that long ago (their retry was lost),
    while attempts remain. Returns how many went; stops at the first the
    broker refuses. A row still waiting in a long broker backlog may be
    dispatched again: running it twice is harmless."""
    if is_paused():
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=crm_setting("QUEUED_SWEEP_AFTER"))
    pending = InboxEvent.objects.filter(outcome=Outcome.PENDING, received_at__lt=cutoff)
    failed = InboxEvent.objects.filter(outcome=Outcome.FAILED, attempts__lt=crm_setting("MAX_ATTEMPTS"))
    failed = failed.only("pk", "attempts", "processed_at", "received_at")
    due = [event.pk for event in failed if retry_due(event) < cutoff]
    sent = 0
    for event_id in [*pending.order_by("pk").values_list("pk", flat=True), *sorted(due)]:
        if not dispatch(event_id):
            break
        sent += 1
    return sent


def retry_due(event):
    """When a failed row's retry is due at the latest: its last attempt plus
    the longest backoff `attempts.backoff` gives after that many attempts."""
    doubling = 2 ** (max(event.attempts, 1) - 1)
    ceiling = min(crm_setting("RETRY_BACKOFF_MAX"), crm_setting("RETRY_BACKOFF_BASE") * doubling)
    return (event.processed_at or event.received_at) + timedelta(seconds=ceiling)


def process_again(events):
    """Put failed rows back in the queue (the admin's "Process again") and
    dispatch them on commit. Returns how many."""
    ids = [event.pk for event in events if event.outcome == Outcome.FAILED]
    with transaction.atomic():
        InboxEvent.objects.filter(pk__in=ids, outcome=Outcome.FAILED).update(outcome=Outcome.PENDING)
        for event_id in ids:
            transaction.on_commit(lambda event_id=event_id: dispatch(event_id), robust=True)
    return len(ids)


# -- working a row off -------------------------------------------------------------------
def run(event_id):
    """The task's body: process the row if it still waits, under its
    person's lock (so it never interleaves with a sync of the same person:
    our own unsubscribe is recorded before its echo is looked at). Returns
    the seconds after which to run it again, or None."""
    if is_paused():
        return None  # stays pending; the sweep takes it after the pause
    event = InboxEvent.objects.filter(pk=event_id, outcome__in=OPEN).first()
    if event is None:
        return None  # gone, or processed already: a duplicate delivery
    person = find_person(event)
    if person is None:
        finish(event, Outcome.IGNORED, Reason.NO_PERSON)
        return None
    try:
        with holding_person(person.pk):
            event.refresh_from_db()
            if event.outcome not in OPEN:
                return None
            process(event, person=person)
    except PersonBusy:
        return PERSON_BUSY_WAIT
    except (RateLimitWait, CircuitOpen) as wait:
        return max(1.0, wait.wait)  # not an attempt spent: the row stays as it was
    if event.outcome == Outcome.FAILED:
        if event.attempts < crm_setting("MAX_ATTEMPTS"):
            return backoff(event.attempts)
        log_event("inbox_retries_exhausted", inbox_event=event.pk, event_type=event.event_type)
    return None


def process(event, person=None):
    """Apply the rules to one row and record how it ended: `outcome`,
    `reason` (what it changed, or why nothing) and `processed_at` are always
    set. An error from the CRM leaves it `failed` (tried again); a wait the
    CRM asks for (its rate limit, an open circuit breaker) is raised and
    leaves the row as it was. `person`: already found by the caller."""
    event.attempts += 1
    event.account_url = event.account_url or ac_account()[0]
    person = person or find_person(event)
    if person is None:
        return finish(event, Outcome.IGNORED, Reason.NO_PERSON)
    event.person = person
    rule = RULES.get(event.event_type)
    if rule is None:
        return finish(event, Outcome.IGNORED, f"{Reason.NOT_ACTED_ON} ({event.event_type})")
    try:
        outcome, reason = rule(event, person)
    except CrmError as error:
        return finish(event, Outcome.FAILED, f"{error.category}: {error}")
    except (RateLimitWait, CircuitOpen):
        event.attempts -= 1
        raise
    except Exception as error:  # a bug or a database blip: record it, try again like a transient error
        logger.exception("crm_sync: inbox row %s crashed", event.pk)
        return finish(event, Outcome.FAILED, f"internal error: {type(error).__name__}: {error}")
    return finish(event, outcome, reason)


def finish(event, outcome, reason):
    """Record how processing ended; the row's reason is what staff read in the admin."""
    event.outcome = outcome
    event.reason = str(reason)[:4000]
    event.processed_at = timezone.now()
    event.save()
    record_inbox_event(event)
    logger.info("crm_sync: inbox row %s (%s from %s, person %s): %s %s", event.pk, event.event_type, event.source,
                event.person_id, outcome, reason)


# -- whose event ----------------------------------------------------------------------
def find_person(event):
    """The person the event is about: the one whose contact in this account
    has the event's contact id, or else the one with its email (in any letter
    case, as the CRM matches emails). None if Badge Maker has no such person."""
    account_url = event.account_url or ac_account()[0]
    if event.contact_id:
        state = (ContactState.objects.filter(account_url=account_url, ac_contact_id=event.contact_id)
                 .select_related("user").order_by("-updated_at").first())
        if state is not None:
            return state.user
    return person_with_email(event.email)


def person_with_email(email):
    email = (email or "").strip().lower()
    if not email:
        return None
    mapping = crm_mapping()
    model = mapping.person_model
    email_field = getattr(model, "EMAIL_FIELD", "email")
    try:
        candidates = list(model._default_manager.filter(**{f"{email_field}__iexact": email})[:5])
    except FieldError:
        return None  # the mapping finds emails some other way: only contact ids match
    return next((person for person in candidates if (mapping.email_of(person) or "").strip().lower() == email), None)


def contact_state(event, person):
    state, _ = ContactState.objects.get_or_create(user=person, account_url=event.account_url or ac_account()[0])
    return state


# -- the rules ------------------------------------------------------------------------------
def with_crm(check):
    """Run `check(crm)` with a backend for the account (its rate limiter and
    circuit breaker, as the sync's), closed afterwards."""
    crm = make_backend(breaker=CircuitBreaker(ac_account()[0]))
    try:
        return check(crm)
    finally:
        crm.close()


def read_back(event, state):
    """(our list's id, the contact's status on it as the CRM holds it now).
    Raises NotFound when the CRM no longer has the contact."""
    contact_id = event.contact_id or state.ac_contact_id
    return with_crm(lambda crm: (crm.list_id(), crm.list_status(contact_id) if contact_id else None))


def about_another_list(event, our_list_id):
    """An event naming a list that is not ours ("0" and none mean the account)."""
    return event.list_id not in ("", "0") and str(event.list_id) != str(our_list_id)


def consent_source(event):
    return ConsentRecord.Source.CRM_PULL if event.source == InboxEvent.Source.PULL else ConsentRecord.Source.CRM_WEBHOOK


def unsubscribed(event, person):
    """`unsubscribe`: opt the person out if the CRM confirms it."""
    return follow_the_crm(event, person, UNSUBSCRIBED, reason=unsubscribe_reason(event))


def subscribed(event, person):
    """`subscribe`: only the contact can consent (`initiated_from` public);
    then opt the person in again if the CRM confirms it."""
    if event.initiated_from != "public":
        return Outcome.IGNORED, f"{Reason.NOT_PUBLIC} (initiated from {event.initiated_from or 'an unknown source'})"
    return follow_the_crm(event, person, SUBSCRIBED)


def follow_the_crm(event, person, wanted, reason=""):
    """Change the person's consent to what the event says (`wanted`, a list
    status), once the CRM confirms the contact has it on our list: an event
    is only a notification, so a forged or stale one changes nothing. An
    event repeating crm_sync's own last change is an echo."""
    opting_in = wanted == SUBSCRIBED
    state = contact_state(event, person)
    if crm_mapping().is_opted_in(person) == opting_in:
        if state.list_status == wanted:
            return Outcome.IGNORED, Reason.ECHO
        return Outcome.IGNORED, Reason.ALREADY_OPTED_IN if opting_in else Reason.ALREADY_OPTED_OUT
    if not (event.contact_id or state.ac_contact_id):
        return Outcome.IGNORED, Reason.NO_CONTACT_ID
    try:
        our_list, status = read_back(event, state)
    except NotFound:
        return Outcome.IGNORED, Reason.CONTACT_GONE
    if about_another_list(event, our_list):
        return Outcome.IGNORED, Reason.NOT_OUR_LIST
    if status != wanted:
        still = not opting_in and status == SUBSCRIBED
        return Outcome.IGNORED, Reason.STILL_SUBSCRIBED if still else Reason.NOT_SUBSCRIBED
    return change_consent(event, person, state, opted_in=opting_in, reason=reason,
                          done=Done.OPTED_IN if opting_in else Done.OPTED_OUT)


def change_consent(event, person, state, *, opted_in, reason, done):
    """Record the change and set the list status the CRM confirmed, in one
    transaction. An unsubscribe queues no sync: the CRM holds it already.
    An opt-in does (the person's save queues it, on commit, and it sees the
    list status): their values were not sent to AC while they were opted out."""
    with transaction.atomic():
        record = record_consent(person, opted_in=opted_in, source=consent_source(event),
                                changed_at=event.occurred_at or event.received_at, reason=reason, inbox_event=event,
                                sync=opted_in)
        if record is None:
            return Outcome.IGNORED, Reason.OLDER
        state.list_status = SUBSCRIBED if opted_in else UNSUBSCRIBED
        state.ac_contact_id = state.ac_contact_id or event.contact_id
        state.save(update_fields=["list_status", "ac_contact_id", "updated_at"])
    return Outcome.APPLIED, done


def unsubscribe_reason(event):
    details = event.payload.get("unsubscribe") if isinstance(event.payload, dict) else None
    return str(details.get("reason") or "") if isinstance(details, dict) else ""


def bounced(event, person):
    """`bounce`: mark the person's address undeliverable (a hard bounce of the
    address they still have)."""
    details = event.payload.get("bounce") if isinstance(event.payload, dict) else None
    if isinstance(details, dict) and str(details.get("type", "")).lower() == "soft":
        return Outcome.IGNORED, Reason.SOFT_BOUNCE
    address = event.email or str((event.payload.get("contact") or {}).get("email") or "").strip().lower()
    if not address or address != current_email(person):
        return Outcome.IGNORED, Reason.OLD_ADDRESS
    state = contact_state(event, person)
    if state.bounced_email.lower() == address:
        return Outcome.IGNORED, Reason.ALREADY_BOUNCED
    state.bounced_email, state.bounced_at = address, event.occurred_at or event.received_at
    state.save(update_fields=["bounced_email", "bounced_at", "updated_at"])
    return Outcome.APPLIED, Done.BOUNCED


RULES = {"unsubscribe": unsubscribed, "subscribe": subscribed, "bounce": bounced}


# -- an undeliverable address ---------------------------------------------------------------
def current_email(person):
    return (crm_mapping().email_of(person) or "").strip().lower()


def bounce_of(person):
    """The person's ContactState holding a hard bounce of the address they
    still have, or None. A later change of email clears it by itself."""
    email = current_email(person)
    if not email:
        return None
    return (ContactState.objects.filter(user=person, account_url=ac_account()[0], bounced_email__iexact=email)
            .exclude(bounced_email="").first())


def is_undeliverable(person):
    """Whether the CRM reported the person's current address as hard-bouncing."""
    return bounce_of(person) is not None


def undeliverable_count():
    """How many people's current address hard-bounced (the dashboard)."""
    states = (ContactState.objects.filter(account_url=ac_account()[0]).exclude(bounced_email="")
              .select_related("user"))
    return sum(1 for state in states if state.bounced_email.lower() == current_email(state.user))
