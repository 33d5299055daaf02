"""Erasing a person from the CRM, and showing what the CRM holds on them.

    request_erasure ─► ErasureReceipt (queued) ─on commit─► tasks.erase_contact ─► run_erasure
      one transaction: the person's SyncLog and             the person's lock; forget again;
      inbox rows redacted, their queued syncs closed,       crm.erase(contact id)
      their ContactState dropped                              │
                                                              ▼
      sync.plan answers Reason.ERASED from then on     done · waiting (the CRM's deletion cap, a
                                                       refused key: every ERASURE_RETRY_SECONDS)
    beat ─► tasks.sweep_erasures ─► sweep()            · queued again (transient, with backoff) · failed

The receipt is the only thing kept, and it holds no personal data: the
person's primary key, the CRM contact id, who asked, when, and the CRM's
answer. Arguments to tasks are the receipt's id, never an email.

`what_crm_holds(person)` reads the person's contact back from the CRM (its
attributes, field values, tags and lists) beside what Badge Maker would send
for them, for a subject access request (the admin's "What AC holds" page).
"""
import logging
import random
import re
from dataclasses import dataclass, field

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .attempts import backoff, is_paused
from .breaker import CircuitBreaker, CircuitOpen
from .conf import ac_account, crm_setting, person_model_label
from .connection import make_backend
from .crm import SUBSCRIBED, UNSUBSCRIBED
from .errors import ConfigurationError, CrmError, NotFound
from .events import log_event
from .limiter import RateLimitWait
from .locks import PERSON_BUSY_WAIT, PersonBusy, holding_person
from .mapping import build_contact_payload, crm_mapping
from .models import ContactState, ErasureReceipt, InboxEvent, SyncLog
from .publisher import Publisher
from .retention import REDACTED_EVENT_FIELDS, REDACTED_FIELDS, redact, redact_event
from .sync import Reason

logger = logging.getLogger(__name__)
Status = ErasureReceipt.Status
OPEN = (Status.QUEUED, Status.WAITING)
ERASE_TASK = "crm_sync.tasks.erase_contact"
ACCOUNT_DELETED = "account deleted"
NOTHING_KNOWN = "no CRM contact known for this person; nothing to erase"
NO_SUCH_EMAIL = "the CRM has no contact with this person's email; nothing to erase"
GONE_UNKNOWN = ("the contact's id is not known and the person's email is no longer kept: find the contact of "
                "person {pk} in the CRM and delete it by hand")
# Like the outbox's (crm_sync/publisher.py): the receipt waits for the sweep if the broker is down.
publisher = Publisher(ERASE_TASK, "erasure")
dispatch = publisher.dispatch
handoff = publisher.handoff  # tests run erasures in-process with it


# -- requesting ------------------------------------------------------------------
def request_erasure(person, requested_by, *, leaving=False):
    """Erase `person`'s contact from the configured CRM account, and every
    copy crm_sync keeps of their data, in the caller's transaction: returns
    the ErasureReceipt, whose task is queued when the transaction commits.

    From then on the person is never synced again (`sync.plan`), so they may
    stay in the host project ("Erase from AC" in the admin). `leaving`: the
    person's row is about to be deleted (the `pre_delete` hook), so a contact
    whose id crm_sync never learnt (sent by the bulk importer) is looked up
    by email now, with one CRM request: later there is no email to look up
    by. A person crm_sync never sent needs no request at all.
    Asking again for an erasure not yet failed returns the same receipt."""
    account_url = ac_account()[0]
    with transaction.atomic():
        receipt = (ErasureReceipt.objects.select_for_update()
                   .filter(person_pk=str(person.pk), account_url=account_url).exclude(status=Status.FAILED)
                   .order_by("-requested_at", "-pk").first())
        if receipt is None:
            receipt = ErasureReceipt.objects.create(person_pk=str(person.pk), account_url=account_url,
                                                    requested_by=str(requested_by)[:150])
        if not receipt.contact_id:
            receipt.contact_id = known_contact_id(person, account_url)
        if receipt.status in OPEN and not receipt.contact_id:
            if not reached_crm(person, account_url):
                close(receipt, Status.DONE, NOTHING_KNOWN)
            elif leaving:
                look_up_before_leaving(receipt, person)
        if receipt.status in OPEN:
            receipt.retry_at = sweep_due(0)
        receipt.save()
        forget_person(receipt.person_pk, account_url, receipt.contact_id)
        if receipt.status in OPEN:
            transaction.on_commit(lambda: publisher.dispatch_soon(receipt.pk), robust=True)
    return receipt


def known_contact_id(person, account_url):
    """The CRM contact id crm_sync holds for the person in this account, or ""."""
    return (ContactState.objects.filter(user=person, account_url=account_url)
            .values_list("ac_contact_id", flat=True).first() or "")


def reached_crm(person, account_url):
    """Whether crm_sync may have put the person in this account: something
    was sent (the bulk importer leaves no id), or an attempt succeeded or is
    running right now."""
    sent = ContactState.objects.filter(user=person, account_url=account_url, sent__isnull=False).exists()
    return sent or SyncLog.objects.filter(user=person).filter(
        Q(status=SyncLog.Status.SUCCESS) | Q(status=SyncLog.Status.RUNNING)).exists()


def look_up_before_leaving(receipt, person):
    """Find the contact by the person's email while there still is one. If
    the CRM can't be asked, the receipt fails with what a person must do;
    the email is not kept anywhere for a later try."""
    crm = None
    try:
        crm = make_backend(patient=True)
        receipt.contact_id = crm.find_contact((crm_mapping().email_of(person) or "").strip())
    except (CrmError, CircuitOpen, ImproperlyConfigured) as error:
        close(receipt, Status.FAILED, f"looking the contact up by email failed ({describe(error)}); "
                                      + GONE_UNKNOWN.format(pk=receipt.person_pk))
        return
    finally:
        if crm is not None:
            crm.close()
    if receipt.contact_id:
        return
    if SyncLog.objects.filter(user=person, status=SyncLog.Status.RUNNING).exists():
        # Its first sync may create the contact after this lookup, and can no
        # longer record it once the person is gone.
        close(receipt, Status.FAILED, f"a sync of person {receipt.person_pk} was running when they were deleted "
                                      "and the CRM had no contact with their email yet: if it has one now, "
                                      "delete it by hand")
    else:
        close(receipt, Status.DONE, NO_SUCH_EMAIL)


def forget_person(person_pk, account_url, contact_id="", now=None):
    """Every copy crm_sync keeps of the person's data, gone: their queued
    syncs closed (so none brings the contact back), their SyncLog rows and
    inbox rows redacted (retention.py's redaction), their ContactState for
    the account deleted. A sync running right now may write its row again
    when it ends: `run_erasure` calls this again once it holds the person's lock."""
    now = now or timezone.now()
    with transaction.atomic():
        logs = SyncLog.objects.filter(logs_of(person_pk, account_url, contact_id))
        closed = list(logs.filter(status=SyncLog.Status.QUEUED).values_list("pk", flat=True))
        SyncLog.objects.filter(pk__in=closed).update(status=SyncLog.Status.SKIPPED, finished_at=now, retry_at=None)
        # Running rows too: the worker's own save overwrites this (then the
        # second pass catches it), unless the person is gone and it can't.
        rows = list(logs.filter(redacted_at__isnull=True).select_for_update())
        for row in rows:
            redact(row, now)
        SyncLog.objects.bulk_update(rows, REDACTED_FIELDS, batch_size=500)
        # After the redaction, which blanks every message: this one holds nothing personal.
        SyncLog.objects.filter(pk__in=closed).update(error_message=str(Reason.ERASED))
        events = list(InboxEvent.objects.select_for_update().filter(redacted_at__isnull=True)
                      .filter(events_of(person_pk, account_url, contact_id)))
        for event in events:
            redact_event(event, now)
        InboxEvent.objects.bulk_update(events, REDACTED_EVENT_FIELDS, batch_size=500)
        ContactState.objects.filter(user_id=person_pk, account_url=account_url).delete()


def logs_of(person_pk, account_url, contact_id):
    """The person's SyncLog rows, and any about their contact (a row whose
    person was deleted no longer names them)."""
    about_contact = Q(account_url=account_url, ac_contact_id=contact_id) if contact_id else Q(pk__in=[])
    return Q(user_id=person_pk) | about_contact


def events_of(person_pk, account_url, contact_id):
    """The person's inbox rows, and any about their contact in this account."""
    about_contact = (Q(contact_id=contact_id, account_url__in=[account_url, ""]) if contact_id
                     else Q(pk__in=[]))
    return Q(person_id=person_pk) | about_contact


# -- handing over to a worker ------------------------------------------------------
def sweep_due(countdown):
    """When the sweep should dispatch a receipt again if nothing happens to
    it first: `countdown` seconds from now, plus the outbox's sweep age."""
    return timezone.now() + timezone.timedelta(seconds=countdown + crm_setting("QUEUED_SWEEP_AFTER"))


def sweep(now=None):
    """Dispatch every open receipt whose `retry_at` has passed: erasures
    waiting for the CRM's deletion cap, retries a lost message never ran,
    and receipts the broker never took (beat runs this). Returns how many."""
    if is_paused():
        return 0
    now = now or timezone.now()
    due = (ErasureReceipt.objects.filter(status__in=OPEN, retry_at__lte=now).order_by("retry_at", "pk")
           .values_list("pk", flat=True))
    sent = 0
    for receipt_id in list(due):
        # Not again before REDISPATCH_AFTER, unless the run decides otherwise.
        ErasureReceipt.objects.filter(pk=receipt_id, status__in=OPEN).update(
            retry_at=now + timezone.timedelta(seconds=crm_setting("REDISPATCH_AFTER")))
        if not dispatch(receipt_id):
            break
        sent += 1
    return sent


def try_again(receipts):
    """Queue waiting or failed erasures again now (the admin's action).
    Returns how many."""
    again = 0
    with transaction.atomic():
        for receipt in receipts:
            if receipt.status == Status.DONE:
                continue
            receipt.status, receipt.retry_at, receipt.finished_at = Status.QUEUED, sweep_due(0), None
            receipt.save(update_fields=["status", "retry_at", "finished_at"])
            transaction.on_commit(lambda receipt_id=receipt.pk: dispatch(receipt_id), robust=True)
            again += 1
    return again


# -- running -----------------------------------------------------------------------
def run_erasure(receipt_id):
    """Erase the contact of one receipt. Returns the countdown after which
    to dispatch it again, or None (done, failed, waiting for the sweep)."""
    if is_paused():
        return None  # stays open; the sweep dispatches it after the pause
    receipt = ErasureReceipt.objects.filter(pk=receipt_id, status__in=OPEN).first()
    if receipt is None:
        return None  # finished already: a duplicate delivery
    try:
        with holding_person(receipt.person_pk):
            receipt.refresh_from_db()
            if receipt.status not in OPEN:
                return None
            return _erase(receipt)
    except PersonBusy:
        return reschedule(receipt, PERSON_BUSY_WAIT)


def _erase(receipt):
    """Holding the person's lock: no sync of theirs runs, and none that
    starts from now on sends anything (sync.plan's ERASED)."""
    forget_person(receipt.person_pk, receipt.account_url, receipt.contact_id)
    if receipt.account_url != ac_account()[0]:
        return wait(receipt, "crm_sync is configured for another CRM account than the one this erasure is for: "
                             "point it back at that account to finish")
    requests = []
    breaker = CircuitBreaker(receipt.account_url)
    crm = None
    try:
        crm = make_backend(breaker=breaker, on_request=requests.append)
        if not receipt.contact_id:
            person = apps.get_model(person_model_label())._default_manager.filter(pk=receipt.person_pk).first()
            if person is None:
                return close(receipt, Status.FAILED, GONE_UNKNOWN.format(pk=receipt.person_pk))
            receipt.contact_id = crm.find_contact((crm_mapping().email_of(person) or "").strip())
            if not receipt.contact_id:
                return close(receipt, Status.DONE, NO_SUCH_EMAIL, spent=True)
            forget_person(receipt.person_pk, receipt.account_url, receipt.contact_id)
        deleted = crm.erase(receipt.contact_id)
    except RateLimitWait as limited:
        return reschedule(receipt, limited.wait)
    except CircuitOpen as open_breaker:
        return reschedule(receipt, open_breaker.wait + random.uniform(0, breaker.reset_seconds))
    except (ConfigurationError, ImproperlyConfigured) as error:
        return wait(receipt, describe(error))
    except CrmError as error:
        if error.retryable:
            return retry(receipt, describe(error))
        return close(receipt, Status.FAILED, describe(error), spent=True)
    except Exception as error:  # a bug or a database blip: retried like a transient error
        logger.exception("crm_sync: erasure %s crashed", receipt.pk)
        return retry(receipt, f"internal error: {type(error).__name__}")
    finally:
        if crm is not None:
            crm.close()
    return close(receipt, Status.DONE, erased_line(crm.name, receipt.contact_id, deleted, requests), spent=True)


def erased_line(crm_name, contact_id, deleted, requests):
    """The receipt's answer: the CRM's status line, no personal data."""
    status = requests[-1].get("status") if requests else None
    answered = f" (answered {status})" if status else ""
    if deleted:
        return f"{crm_name} deleted contact {contact_id}{answered}"
    return f"{crm_name} had no contact {contact_id} any more{answered}: nothing left to erase"


def describe(error):
    """An error as the receipt keeps it: without a request's query string,
    which for a lookup by email holds the address."""
    return re.sub(r"\?[^\s:]+", "", str(error))[:1000]


# -- the receipt's states ----------------------------------------------------------
def close(receipt, status, answer, spent=False):
    """Finish the receipt: done or failed."""
    receipt.status, receipt.answer = status, answer
    receipt.finished_at, receipt.retry_at = timezone.now(), None
    if spent:
        receipt.attempts += 1
    receipt.save()
    level = logging.WARNING if status == Status.FAILED else logging.INFO
    logger.log(level, "crm_sync: erasure %s (person %s, contact %s): %s: %s",
               receipt.pk, receipt.person_pk, receipt.contact_id or "-", status, answer)
    return None


def wait(receipt, reason):
    """A configuration problem only a person can fix (the CRM's monthly
    deletion cap, a refused key): wait, trying again every
    ERASURE_RETRY_SECONDS, and say so on the dashboard."""
    seconds = crm_setting("ERASURE_RETRY_SECONDS")
    receipt.status = Status.WAITING
    receipt.answer = f"{reason}; crm_sync tries again {every(seconds)}"
    receipt.attempts += 1
    receipt.retry_at = timezone.now() + timezone.timedelta(seconds=seconds)
    receipt.save()
    log_event("erasure_waiting", erasure=receipt.pk, contact=receipt.contact_id, reason=reason)
    return None


def retry(receipt, reason):
    """A transient failure: queued again after the sync's backoff. An
    erasure is never given up on for a transient failure."""
    receipt.attempts += 1
    countdown = backoff(min(receipt.attempts, 30))
    receipt.status = Status.QUEUED
    receipt.answer = f"will try again: {reason}"
    receipt.retry_at = sweep_due(countdown)
    receipt.save()
    return countdown


def reschedule(receipt, countdown):
    """Not the CRM's answer (the rate limit, the breaker, the person's
    lock): try again after `countdown` seconds without spending an attempt."""
    ErasureReceipt.objects.filter(pk=receipt.pk, status__in=OPEN).update(retry_at=sweep_due(countdown))
    return countdown


def every(seconds):
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "every hour" if hours == 1 else f"every {hours} hours"
    if seconds % 60 == 0:
        return f"every {seconds // 60} minutes"
    return f"every {seconds} seconds"


# -- what the CRM holds -------------------------------------------------------------
@dataclass
class Holdings:
    """What the CRM and Badge Maker hold on one person, side by side."""

    person_pk: str
    crm_name: str
    account_url: str
    contact_id: str
    crm: dict = None              # backend.contact_snapshot, or None when there is no contact
    crm_note: str = ""            # why there is none
    badge_maker: dict = field(default_factory=dict)
    erasures: list = field(default_factory=list)
    read_at: object = None

    def as_json(self):
        """The subject access answer as JSON-ready data (the admin's download)."""
        return {
            "person": self.person_pk,
            "read_at": self.read_at.isoformat() if self.read_at else None,
            "badge_maker": self.badge_maker,
            "crm": {"name": self.crm_name, "account_url": self.account_url, "contact_id": self.contact_id,
                    "note": self.crm_note, **(self.crm or {})},
            "erasures": self.erasures,
        }


def what_crm_holds(person):
    """Read the person's contact back from the CRM (one lookup by email if
    crm_sync holds no id, then `contact_snapshot`) and gather what Badge
    Maker would send for them. Raises the CRM's errors (errors.py)."""
    account_url = ac_account()[0]
    state = ContactState.objects.filter(user=person, account_url=account_url).first()
    email = (crm_mapping().email_of(person) or "").strip()
    crm = make_backend(patient=True)
    try:
        holdings = Holdings(person_pk=str(person.pk), crm_name=crm.name, account_url=account_url,
                            contact_id=(state.ac_contact_id if state else "") or crm.find_contact(email),
                            badge_maker=badge_maker_holds(person, state, crm), erasures=erasures_of(person),
                            read_at=timezone.now())
        if holdings.contact_id:
            try:
                holdings.crm = crm.contact_snapshot(holdings.contact_id)
            except NotFound:
                # Deleted there, or made again under another id: look once more by email.
                holdings.contact_id = crm.find_contact(email)
                holdings.crm = crm.contact_snapshot(holdings.contact_id) if holdings.contact_id else None
        if holdings.crm is None:
            holdings.crm_note = f"{crm.name} holds no contact with this person's email"
    finally:
        crm.close()
    return holdings


def badge_maker_holds(person, state, crm):
    """What Badge Maker would have the CRM hold for the person (the
    mapping's payload, with choices as the account stores them), whether
    or not it is sent, and what crm_sync knows of their contact."""
    mapping = crm_mapping()
    attendee = mapping.load(person)
    payload = build_contact_payload(attendee, mapping) if attendee.records else None
    if payload is not None:
        try:
            crm.fit(payload)
        except CrmError as error:
            payload.warnings.append(f"choices shown as Badge Maker names them: {describe(error)}")
    return {
        "email": payload.email if payload else (mapping.email_of(person) or "").strip().lower(),
        "opted_in": mapping.is_opted_in(person),
        "confirmed_records": len(attendee.records),
        "contact": dict(payload.contact) if payload else {},
        "fields": dict(payload.fields) if payload else {},
        "tags": list(payload.tags) if payload else [],
        "warnings": list(payload.warnings) if payload else [],
        "list_status": state.list_status if state else None,
    }


def erasures_of(person):
    return [{"requested_at": receipt.requested_at.isoformat(), "requested_by": receipt.requested_by,
             "status": receipt.status, "contact_id": receipt.contact_id, "answer": receipt.answer}
            for receipt in ErasureReceipt.objects.filter(person_pk=str(person.pk))]


LIST_WORDS = {SUBSCRIBED: "subscribed", UNSUBSCRIBED: "unsubscribed"}


def side_by_side(holdings):
    """Rows of (what, Badge Maker's value, the CRM's value, whether they
    agree) for the page: email, the contact's attributes, each custom field
    by perstag, the tags and the list status."""
    ours, theirs = holdings.badge_maker, holdings.crm or {}
    contact = theirs.get("contact") or {}
    rows = [_row("Email", ours.get("email"), contact.get("email"), str.lower)]
    for name in sorted(set(ours.get("contact") or {}) | ({"firstName", "lastName", "phone"} & set(contact))):
        rows.append(_row(name, (ours.get("contact") or {}).get(name), contact.get(name)))
    values = {item["perstag"] or f"field {item['field']}": item["value"] for item in theirs.get("field_values") or []}
    for name in sorted(set(ours.get("fields") or {}) | set(values)):
        rows.append(_row(name, (ours.get("fields") or {}).get(name), values.get(name)))
    their_tags = sorted((tag["name"] or f"tag {tag['id']}" for tag in theirs.get("tags") or []), key=str.lower)
    rows.append(_row("Tags", ", ".join(ours.get("tags") or []), ", ".join(their_tags), str.lower))
    stringid = crm_setting("LIST_STRINGID")
    memberships = theirs.get("lists") or []
    our_list = next((item for item in memberships if item["stringid"] == stringid), None)
    rows.append(_row(f"List {stringid}", LIST_WORDS.get(ours.get("list_status"), "not on the list"),
                     LIST_WORDS.get(our_list["status"], str(our_list["status"])) if our_list else "not on the list"))
    for item in memberships:
        if item is not our_list:
            rows.append(_row(f"List {item['stringid'] or item['id']}", None,
                             LIST_WORDS.get(item["status"], str(item["status"]))))
    return rows


def _row(what, ours, theirs, compare=str):
    """One row; empty values shown as none. `compare` makes the two sides
    comparable (email addresses and tag names ignore case, as the CRM does)."""
    ours, theirs = ours or None, theirs or None
    return {"what": what, "badge_maker": ours, "crm": theirs,
            "same": compare(str(ours or "")) == compare(str(theirs or ""))}
