"""One sync attempt for one person: claim the SyncLog row, lock the person,
build the contact, send only what differs from what AC already holds, and
record the outcome. Knows nothing of Celery: it returns the row to dispatch
next, if any, and the task dispatches it.
"""
import logging
import random
import time
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from .activecampaign.breaker import CircuitBreaker, CircuitOpen
from .activecampaign.catalog import Catalog
from .activecampaign.client import ActiveCampaignClient
from .activecampaign.errors import (
    ACError,
    BadResponse,
    ConfigurationError,
    Conflict,
    NotFound,
    TransientError,
    ValidationFailed,
)
from .conf import ac_account, crm_setting
from .coordination import AccountRateLimiter, RateLimitWait, coordination, log_event
from .mapping import build_contact_payload, mapping_module
from .models import ContactState, SyncLog, SharedState

logger = logging.getLogger(__name__)
Status = SyncLog.Status
SUBSCRIBED, UNSUBSCRIBED = 1, 2
RESUBSCRIBE_SOURCE = 4  # AC's docs: set sourceid 4 when subscribing someone again (API.md §6)


@dataclass
class Next:
    """A row the caller should dispatch, and after how many seconds."""

    log: SyncLog
    countdown: float = 0.0


class PersonBusy(Exception):
    """Another sync of the same person holds the lock."""


def is_unchanged(state, payload):
    """The skip rule of the live sync and the resync alike: AC already holds
    this record, the contact's tags are known and cover the payload's, and
    the person is subscribed. Then nothing needs sending."""
    return (state is not None and state.sent == payload.record() and state.tags_known
            and _covers(state.tags, payload.tags) and state.list_status == SUBSCRIBED)


def _covers(known, names):
    """Tag names compare case-insensitively, as AC compares them."""
    return {name.lower() for name in names} <= {name.lower() for name in known}


# -- the attempt ------------------------------------------------------------
class PersonSync:
    """Brings one person's AC contact in line with the database, as it is now.

    Syncing the person rather than the event that triggered the sync makes
    duplicate and out-of-order attempts converge on the same contact.
    """

    def __init__(self, log, client, account_url):
        self.log = log
        self.client = client
        self.account_url = account_url
        self.catalog = Catalog(client, account_url)
        self.mapping = mapping_module()

    def run(self):
        """Return (status, message). Raises ACError subclasses."""
        user = self.log.user
        if user is None:
            return Status.SKIPPED, "the person no longer exists"
        attendee = self.mapping.load_attendee(user)
        self.state, _ = ContactState.objects.get_or_create(user=user, account_url=self.account_url)
        self.log.ac_contact_id = self.state.ac_contact_id
        if not attendee.badges:
            return Status.SKIPPED, "no confirmed badge"
        if not self.mapping.is_opted_in(user):
            return self.withdraw()

        payload = build_contact_payload(attendee, self.mapping)
        self.log.email = payload.email
        self.log.warnings = payload.warnings
        self.log.payload = {**payload.record(), "tags": payload.tags, "list_status": SUBSCRIBED}
        if is_unchanged(self.state, payload):
            self.state.last_success_at = timezone.now()  # verified in step: the reconciler leaves them alone
            self.state.save(update_fields=["last_success_at", "updated_at"])
            return Status.SKIPPED, "unchanged since the last successful sync"

        contact_due = self.state.sent != payload.record() or not self.state.ac_contact_id
        created = self.send_contact(payload) if contact_due else False
        self.attach_tags(payload.tags, created)
        if self.state.list_status != SUBSCRIBED:
            self.set_list_status(SUBSCRIBED)
        self.state.last_success_at = timezone.now()
        self.state.save()
        return Status.SUCCESS, "created in AC" if created else "updated in AC"

    def _has_tags(self, names):
        return _covers(self.state.tags, names)

    # -- contact -------------------------------------------------------------
    def send_contact(self, payload):
        """Create or update the contact with every non-empty value in one call.
        Returns True if AC created a new contact."""
        try:
            answer, status = self._send_contact_once(payload)
        except ValidationFailed as error:
            # A stored field id AC no longer knows: read the catalog again once.
            if self.catalog.fields_fresh or "field" not in str(error).lower():
                raise
            self.catalog.forget_fields()
            answer, status = self._send_contact_once(payload)
        try:
            contact_id = str(answer["contact"]["id"])
        except (KeyError, TypeError):
            raise BadResponse(f"AC's answer to the contact update has no contact id: {str(answer)[:200]}") from None
        if self.state.ac_contact_id and self.state.ac_contact_id != contact_id:
            # AC gave another contact (ours was deleted there): start its record afresh.
            self.state.tags, self.state.tags_known, self.state.list_status = [], False, None
        created = status == 201 and not self.state.ac_contact_id
        self.state.ac_contact_id = contact_id
        self.state.sent = payload.record()
        self.state.save()
        self.log.ac_contact_id = contact_id
        return created

    def _send_contact_once(self, payload):
        fields = self.catalog.fields(payload.fields)
        body = {"contact": {
            "email": payload.email,
            **payload.contact,
            "fieldValues": [
                {"field": fields[perstag]["id"], "value": value} for perstag, value in sorted(payload.fields.items())
            ],
        }}
        previous_email = (self.state.sent or {}).get("email")
        if previous_email and previous_email != payload.email and not self.state.ac_contact_id:
            self._find_contact_id()  # imported in bulk: AC gave no id; find the contact by the email it has
        if self.state.ac_contact_id and previous_email and previous_email != payload.email:
            # contact/sync matches on email, so it would create a second
            # contact; update ours by id instead (API.md §3.1).
            try:
                answer = self.client.put(f"/contacts/{self.state.ac_contact_id}", body)
                return answer, 200
            except NotFound:
                self.state.ac_contact_id = ""  # deleted in AC: sync creates it again
            except ValidationFailed as error:
                if "exist" in str(error).lower() or "duplicate" in str(error).lower():
                    raise Conflict(
                        f"{payload.email} already belongs to another AC contact; nothing was merged "
                        f"(AC said: {error})", status=error.status, body=error.body,
                    ) from None
                raise
        answer = self.client.post("/contact/sync", body)
        return answer, self.client.recorder[-1]["status"]

    # -- tags ----------------------------------------------------------------
    def attach_tags(self, names, created):
        """Attach every tag the contact lacks. Never removes a tag."""
        contact_id = self.state.ac_contact_id
        if not self.state.tags_known:
            if created:
                self.state.tags = []
            else:
                # Known to AC before us: read its tags once, then keep track.
                attached = {
                    str(item.get("tag"))
                    for item in self.client.get_all(f"/contacts/{contact_id}/contactTags", "contactTags")["contactTags"]
                }
                self.state.tags = [name for name in names if self.catalog.tag_id(name) in attached]
            self.state.tags_known = True
            self.state.save()
        for name in names:
            if self._has_tags([name]):
                continue
            self._attach(contact_id, name)
            self.state.tags = [*self.state.tags, name]
            self.state.save()

    def _attach(self, contact_id, name):
        for first_try in (True, False):
            tag_id = self.catalog.tag_id(name)
            try:
                self.client.post("/contactTags", {"contactTag": {"contact": contact_id, "tag": tag_id}})
                return
            except NotFound:
                if not first_try:
                    # The contact itself is gone from AC: forget it; the retry recreates it.
                    self.state.ac_contact_id, self.state.sent = "", None
                    self.state.tags, self.state.tags_known, self.state.list_status = [], False, None
                    self.state.save()
                    raise TransientError(f"AC contact {contact_id} no longer exists; it will be created again")
                self.catalog.forget_tag(name)  # the tag was deleted in AC: look it up again
            except ValidationFailed as error:
                # AC's answer to a tag the contact already has is undocumented
                # (API.md open question 3): take "already there" as done.
                text = str(error).lower()
                if "already" in text or "duplicate" in text or "exists" in text:
                    return
                raise

    def _find_contact_id(self):
        """Look the contact up by email (a person the bulk importer created:
        its answer gives no ids per email)."""
        email = (self.state.sent or {}).get("email") or self.log.email
        found = self.client.get("/contacts", email=email).get("contacts") or []
        if found:
            self.state.ac_contact_id = str(found[0]["id"])
            self.state.save()
        return self.state.ac_contact_id

    # -- list ----------------------------------------------------------------
    def set_list_status(self, status):
        list_id = self.catalog.list_id(crm_setting("LIST_STRINGID"))
        body = {"list": list_id, "contact": self.state.ac_contact_id, "status": status}
        if status == SUBSCRIBED and self.state.list_status == UNSUBSCRIBED:
            body["sourceid"] = RESUBSCRIBE_SOURCE
        self.client.post("/contactLists", {"contactList": body})
        self.state.list_status = status
        self.state.save()

    def withdraw(self):
        """Unsubscribe someone who withdrew their opt-in, once; after that
        their contact is no longer updated."""
        if self.state.list_status == SUBSCRIBED:
            if not self.state.ac_contact_id and not self._find_contact_id():
                self.state.list_status = None  # not in AC at all: nothing to unsubscribe
                self.state.save()
                return Status.SKIPPED, "not opted in: not sent to AC"
            self.set_list_status(UNSUBSCRIBED)
            return Status.SUCCESS, "opt-in withdrawn: unsubscribed from the list"
        if self.state.list_status == UNSUBSCRIBED:
            return Status.SKIPPED, "opt-in withdrawn; already unsubscribed, not updated"
        return Status.SKIPPED, "not opted in: not sent to AC"


# -- running one SyncLog row -------------------------------------------------
def run_sync(log_id, task_id=""):
    """Run the attempt recorded by SyncLog row `log_id`. Returns a `Next` to
    dispatch (a retry, or the same row rescheduled), or None."""
    if is_paused():
        return None  # the row stays queued; resuming dispatches it
    log, follow_up = _claim(log_id, task_id)
    if log is None:
        return follow_up
    person_lock = f"person:{log.user_id}"
    try:
        token = _lock_person(person_lock)
    except PersonBusy:
        return _reschedule(log, 2.0, "waiting for another sync of the same person")
    # Kept on the row so that whoever closes it after a worker died can free the lock.
    log.lock_token = token
    SyncLog.objects.filter(pk=log.pk).update(lock_token=token)
    try:
        return _attempt(log)
    finally:
        coordination().release_lock(person_lock, token)


def _claim(log_id, task_id):
    """Mark the row running. Returns (row, None) to go on, or (None, Next|None)."""
    with transaction.atomic():
        log = SyncLog.objects.select_for_update().filter(pk=log_id).first()
        if log is None or log.status not in (Status.QUEUED, Status.RUNNING):
            return None, None  # gone, or already finished: a duplicate delivery
        if log.status == Status.RUNNING:
            if not task_id or log.task_id != task_id:
                return None, None  # another worker is running it right now
            # The same message again: its worker died mid-attempt (acks_late
            # redelivers it). Close the orphan and open the next attempt.
            return None, _close_orphan(log, "the worker running this attempt stopped before it finished")
        now = timezone.now()
        log.status, log.started_at, log.task_id = Status.RUNNING, now, task_id
        log.deliveries += 1
        log.save(update_fields=["status", "started_at", "task_id", "deliveries"])
    return log, None


def _close_orphan(log, message):
    """Close an attempt whose worker died: free its lock, record it as
    `worker_lost`, and return the next attempt, unless this person's attempts
    keep killing workers."""
    if log.lock_token:
        coordination().release_lock(f"person:{log.user_id}", log.lock_token)
    _finish(log, Status.FAILED, "worker_lost", message)
    return _after_worker_lost(log)


def _after_worker_lost(log):
    """The next attempt, unless this person's attempts keep killing workers."""
    recent = SyncLog.objects.filter(user_id=log.user_id).order_by("-id")[: crm_setting("POISON_AFTER")]
    lost = [row for row in recent if row.error_category == "worker_lost"]
    if len(lost) >= crm_setting("POISON_AFTER"):
        log.error_category = "poison"
        log.error_message = f"stopped: {len(lost)} attempts in a row lost their worker; needs a human"
        log.retry_at = None
        log.save(update_fields=["error_category", "error_message", "retry_at"])
        log_event("poison", sync_log=log.pk, person=log.user_id)
        return None
    return _next_attempt(log)


def release_interrupted(log_id, task_id):
    """Put a row whose attempt the database cut short back in the queue, if
    the database answers again; otherwise the sweep closes it later."""
    try:
        log = SyncLog.objects.filter(pk=log_id, status=Status.RUNNING, task_id=task_id).first()
        if log is None:
            return
        if log.lock_token:
            coordination().release_lock(f"person:{log.user_id}", log.lock_token)
        log.status, log.task_id, log.lock_token = Status.QUEUED, "", ""
        log.error_message = "interrupted: the database went away"
        log.save(update_fields=["status", "task_id", "lock_token", "error_message"])
    except (OperationalError, InterfaceError):
        logger.warning("crm_sync: database still unreachable; SyncLog %s is left for the sweep", log_id)


def close_lost_attempts():
    """Close rows `running` for longer than any attempt can take (their
    worker was killed) and queue the next attempt. Returns the rows to dispatch."""
    cutoff = timezone.now() - timezone.timedelta(seconds=crm_setting("RUNNING_TIMEOUT"))
    follow_ups = []
    for log_id in SyncLog.objects.filter(status=Status.RUNNING, started_at__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            log = SyncLog.objects.select_for_update().filter(pk=log_id, status=Status.RUNNING).first()
            if log is None:
                continue
            follow_up = _close_orphan(log, "no word from the worker running this attempt; presumed dead")
        if follow_up:
            follow_ups.append(follow_up)
    return follow_ups


def pause_state():
    """The pause switch: the flag set by `crm_sync_status --pause`, or the setting."""
    return (SharedState.objects.filter(name="paused").values_list("data", flat=True).first()
            or ({"on": True, "reason": "CRM_SYNC['PAUSED'] setting"} if crm_setting("PAUSED") else {"on": False}))


def is_paused():
    return bool(pause_state().get("on"))


def _lock_person(name):
    deadline = time.monotonic() + crm_setting("PERSON_LOCK_WAIT")
    while True:
        token = coordination().acquire_lock(name, crm_setting("PERSON_LOCK_TTL"))
        if token:
            return token
        if time.monotonic() > deadline:
            raise PersonBusy(name)
        time.sleep(0.1)


def _attempt(log):
    account_url, api_key = ac_account()
    log.account_url = account_url
    recorder = []
    client = None
    try:
        breaker = CircuitBreaker(account_url)
        client = ActiveCampaignClient(
            account_url, api_key, limiter=AccountRateLimiter(account_url), breaker=breaker, recorder=recorder,
        )
        status, message = PersonSync(log, client, account_url).run()
    except RateLimitWait as wait:
        log.requests = log.requests + recorder
        return _reschedule(log, wait.wait, "waiting for the account's rate limit")
    except CircuitOpen as wait:
        log.requests = log.requests + recorder
        # Spread the wake-ups over one interval so the backlog doesn't return at once.
        return _reschedule(log, wait.wait + random.uniform(0, breaker.reset_seconds), str(wait))
    except ACError as error:
        log.requests = log.requests + recorder
        refused_key = isinstance(error, ConfigurationError) and error.status in (401, 403)
        if (error.retryable or refused_key) and breaker.is_open():
            # An outage or a refused key, not this person's fault: wait without spending the attempt.
            state = breaker.state()
            return _reschedule(log, max(1.0, state["until"] - time.time()) + random.uniform(0, breaker.reset_seconds),
                               f"waiting: circuit breaker open ({state['reason']}): {error}")
        _finish(log, Status.FAILED, error.category, str(error), retry=error.retryable)
        if error.retryable and log.attempt >= crm_setting("MAX_ATTEMPTS"):
            log_event("retries_exhausted", sync_log=log.pk, person=log.user_id, category=error.category)
        return _next_attempt(log) if error.retryable and log.attempt < crm_setting("MAX_ATTEMPTS") else None
    except Exception as error:  # a bug or a database blip: record it, retry like a transient error
        logger.exception("crm_sync attempt %s crashed", log.pk)
        log.requests = log.requests + recorder
        _finish(log, Status.FAILED, "internal", f"{type(error).__name__}: {error}", retry=True)
        return _next_attempt(log) if log.attempt < crm_setting("MAX_ATTEMPTS") else None
    finally:
        if client is not None:
            client.close()
    log.requests = log.requests + recorder
    _finish(log, status, "", message)
    return None


def _finish(log, status, category, message, retry=False):
    log.status = status
    log.error_category = category
    log.error_message = message[:4000]
    log.finished_at = timezone.now()
    log.api_calls = len(log.requests)
    if retry and log.attempt < crm_setting("MAX_ATTEMPTS"):
        log.retry_at = log.finished_at + timezone.timedelta(seconds=_backoff(log.attempt))
    log.save()
    level = logging.WARNING if status == Status.FAILED else logging.INFO
    logger.log(level, "crm_sync attempt %s for person %s: %s %s %s", log.pk, log.user_id, status, category, message)


def _backoff(attempt):
    """Exponential backoff with jitter, capped: about 2, 4, 8, … seconds."""
    ceiling = min(crm_setting("RETRY_BACKOFF_MAX"), crm_setting("RETRY_BACKOFF_BASE") * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _next_attempt(log):
    """The next attempt as a new queued row, due when the failed one says."""
    due = log.retry_at or timezone.now()
    new = SyncLog.objects.create(
        user_id=log.user_id, badge_id=log.badge_id, email=log.email, trigger=log.trigger,
        attempt=log.attempt + 1, account_url=log.account_url, not_before=due,
    )
    return Next(new, max(0.0, (due - timezone.now()).total_seconds()))


def _reschedule(log, seconds, reason):
    """Put the row back in the queue without spending an attempt."""
    log.status = Status.QUEUED
    log.not_before = timezone.now() + timezone.timedelta(seconds=seconds)
    log.error_message = reason
    log.lock_token = ""
    log.save()
    return Next(log, seconds)
