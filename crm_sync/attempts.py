"""The SyncLog life cycle: every state change of an attempt is a function here.

    open_attempt ──► queued ──claim──► running ──finish──► success | skipped | failed
                       ▲                 │  └──reschedule (rate limit, breaker, lock): queued again, same attempt
                       │                 └──worker died: close_orphan ──► failed (worker_lost), next_attempt
                       └──────────── next_attempt (a failed, retryable attempt: a new row, attempt + 1)

A row is the outbox too: written `queued` in the caller's transaction and
dispatched on commit (outbox.py). Knows nothing of Celery or HTTP: it returns
the row to dispatch next, if any, and the caller dispatches it.
"""
import logging
import random
import time
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, models, transaction
from django.utils import timezone

from . import staging_guard
from .breaker import CircuitBreaker, CircuitOpen
from .conf import ac_account, crm_setting
from .connection import make_backend
from .errors import Category, CrmError, KeyRefused
from .events import log_event
from .limiter import RateLimitWait
from .locks import PERSON_BUSY_WAIT, PersonBusy, lock_person, release_person
from .mapping import crm_mapping
from .metrics import IN_PROGRESS, record_attempt
from .models import ContactState, SharedState, SyncLog
from .sync import Done, Outcome, PersonSync, Reason

logger = logging.getLogger(__name__)
Status = SyncLog.Status
PAUSE = "paused"


@dataclass
class Next:
    """A row the caller should dispatch, and after how many seconds."""

    log: SyncLog
    countdown: float = 0.0


@dataclass
class Ran:
    """What running a row came to: the outcome when the attempt ended
    without an error, and the row to dispatch next, if any."""

    outcome: Outcome = None
    follow_up: Next = None


# -- opening -------------------------------------------------------------------
def open_attempt(person, record=None, trigger=SyncLog.Trigger.SIGNAL):
    """A new queued attempt for `person`, in the caller's transaction.
    `person` may be only their primary key (a confirmation loads no one):
    the row's email is then filled in once it is handed on (outbox) or run."""
    if not isinstance(person, models.Model):
        return SyncLog.objects.create(user_id=person, badge=record, trigger=trigger)
    return SyncLog.objects.create(user=person, badge=record, email=row_email(person), trigger=trigger)


def row_email(person):
    """The address a SyncLog row files `person` under."""
    return (crm_mapping().email_of(person) or "").strip().lower()


# -- the pause switch ----------------------------------------------------------
def pause(reason=""):
    """Keep queueing, stop sending (a CRM maintenance window)."""
    SharedState.objects.update_or_create(name=PAUSE, defaults={"data": {
        "on": True, "reason": reason, "since": timezone.now().isoformat()}})


def unpause():
    """Send again: clear the operator's pause and, when the staging guard
    trips here, record an override for this public URL (staging_guard.py).
    Returns the guard's reason that was overridden, or ""."""
    SharedState.objects.filter(name=PAUSE).delete()
    return staging_guard.override()


def pause_state():
    """The pause switch, the one place every sender asks: the flag set by
    `crm_sync_status --pause`, the setting, or the staging guard. `source`
    says which ("operator", "setting", "staging_guard")."""
    stored = SharedState.objects.filter(name=PAUSE).values_list("data", flat=True).first()
    if stored:
        return {"source": "operator", **stored}
    if crm_setting("PAUSED"):
        return {"on": True, "reason": "CRM_SYNC['PAUSED'] setting", "source": "setting"}
    guard = staging_guard.reason()
    if guard:
        return {"on": True, "reason": guard, "source": "staging_guard"}
    return {"on": False}


def is_paused():
    return bool(pause_state().get("on"))


# -- running one row -------------------------------------------------------------
@IN_PROGRESS.track_inprogress()
def run_attempt(log_id, task_id=""):
    """Run the attempt recorded by SyncLog row `log_id`. Returns a Ran."""
    if is_paused():
        return Ran()  # the row stays queued; resuming dispatches it
    log, follow_up = claim(log_id, task_id)
    if log is None:
        return Ran(follow_up=follow_up)
    try:
        token = lock_person(log.user_id)
    except PersonBusy:
        return Ran(follow_up=reschedule(log, PERSON_BUSY_WAIT, "waiting for another sync of the same person"))
    # Kept on the row so that whoever closes it after a worker died can free the lock.
    log.lock_token = token
    SyncLog.objects.filter(pk=log.pk).update(lock_token=token)
    try:
        return _attempt(log)
    finally:
        release_person(log.user_id, token)


def claim(log_id, task_id):
    """Mark the row running. Returns (row, None) to go on, or (None, Next|None)."""
    with transaction.atomic():
        log = SyncLog.objects.select_for_update().filter(pk=log_id).first()
        if log is None or not log.is_open:
            return None, None  # gone, or already finished: a duplicate delivery
        if log.status == Status.RUNNING:
            if not task_id or log.task_id != task_id:
                return None, None  # another worker is running it right now
            # The same message again: its worker died mid-attempt (acks_late
            # redelivers it). Close the orphan and open the next attempt.
            return None, close_orphan(log, "the worker running this attempt stopped before it finished")
        log.status, log.started_at, log.task_id = Status.RUNNING, timezone.now(), task_id
        log.deliveries += 1
        log.save(update_fields=["status", "started_at", "task_id", "deliveries"])
    return log, None


def _attempt(log):
    """Sync the row's person and record how it went."""
    if log.user is None:
        finish(log, Status.SKIPPED, "", Reason.PERSON_GONE)
        return Ran(Outcome(Done.NOTHING, Reason.PERSON_GONE))
    account_url = ac_account()[0]
    log.account_url = account_url
    requests = []  # what the client reports, for this row
    crm = None
    breaker = CircuitBreaker(account_url)
    try:
        crm = make_backend(breaker=breaker, on_request=requests.append)
        state, _ = ContactState.objects.get_or_create(user=log.user, account_url=account_url)
        outcome = PersonSync(log, crm, state).run()
    except RateLimitWait as wait:
        return Ran(follow_up=reschedule(log, wait.wait, "waiting for the account's rate limit", requests))
    except CircuitOpen as wait:
        # Spread the wake-ups over one interval so the backlog doesn't return at once.
        return Ran(follow_up=reschedule(log, wait.wait + random.uniform(0, breaker.reset_seconds), str(wait),
                                        requests))
    except CrmError as error:
        if (error.retryable or isinstance(error, KeyRefused)) and breaker.is_open():
            # An outage or a refused key, not this person's fault: wait without spending the attempt.
            state = breaker.state()
            wait = max(1.0, state["until"] - time.time()) + random.uniform(0, breaker.reset_seconds)
            return Ran(follow_up=reschedule(log, wait, f"waiting: circuit breaker open ({state['reason']}): {error}",
                                            requests))
        return Ran(follow_up=fail(log, error.category, str(error), error.retryable, requests))
    except Exception as error:  # a bug or a database blip: record it, retry like a transient error
        logger.exception("crm_sync: SyncLog row %s crashed", log.pk)
        return Ran(follow_up=fail(log, Category.INTERNAL, f"{type(error).__name__}: {error}", True, requests))
    finally:
        if crm is not None:
            crm.close()
    log.requests = log.requests + requests
    finish(log, Status.SKIPPED if outcome.skipped else Status.SUCCESS, "", outcome.message)
    return Ran(outcome)


# -- ending ------------------------------------------------------------------------
def finish(log, status, category, message, retry=False):
    """Close the attempt: its status, error and times."""
    log.status = status
    log.error_category = category
    log.error_message = str(message)[:4000]
    log.finished_at = timezone.now()
    log.api_calls = len(log.requests)
    if retry and log.attempt < crm_setting("MAX_ATTEMPTS"):
        log.retry_at = log.finished_at + timezone.timedelta(seconds=backoff(log.attempt))
    log.save()
    record_attempt(log)
    level = logging.WARNING if status == Status.FAILED else logging.INFO
    # The row's id and the attempt's number side by side, each named; the person by id (no email in logs).
    logger.log(level, "crm_sync: SyncLog row %s (attempt %s for person %s): %s%s: %s", log.pk, log.attempt,
               log.user_id, status, f" ({category})" if category else "", message or "-")


def fail(log, category, message, retryable, requests=()):
    """Close the attempt as failed; returns the next attempt if it is worth one."""
    log.requests = log.requests + list(requests)
    finish(log, Status.FAILED, category, message, retry=retryable)
    if retryable and log.attempt >= crm_setting("MAX_ATTEMPTS"):
        log_event("retries_exhausted", sync_log=log.pk, person=log.user_id, category=category)
    return next_attempt(log) if retryable and log.attempt < crm_setting("MAX_ATTEMPTS") else None


def backoff(attempt):
    """Exponential backoff with jitter, capped: about 2, 4, 8, … seconds."""
    ceiling = min(crm_setting("RETRY_BACKOFF_MAX"), crm_setting("RETRY_BACKOFF_BASE") * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def next_attempt(log):
    """The next attempt as a new queued row, due when the failed one says."""
    due = log.retry_at or timezone.now()
    new = SyncLog.objects.create(
        user_id=log.user_id, badge_id=log.badge_id, email=log.email, trigger=log.trigger,
        attempt=log.attempt + 1, account_url=log.account_url, not_before=due,
    )
    return Next(new, max(0.0, (due - timezone.now()).total_seconds()))


def reschedule(log, seconds, reason, requests=()):
    """Put the row back in the queue without spending an attempt."""
    log.requests = log.requests + list(requests)
    log.api_calls = len(log.requests)  # as finish() counts them: the row shows what it spent so far
    log.status = Status.QUEUED
    log.not_before = timezone.now() + timezone.timedelta(seconds=seconds)
    log.error_message = reason
    log.lock_token = ""
    log.save()
    return Next(log, seconds)


# -- when workers die ------------------------------------------------------------
def close_orphan(log, message):
    """Close an attempt whose worker died: free its lock, record it as
    `worker_lost`, and return the next attempt, unless this person's attempts
    keep killing workers (then it is marked `poison` and left for a human)."""
    if log.lock_token:
        release_person(log.user_id, log.lock_token)
    finish(log, Status.FAILED, Category.WORKER_LOST, message)
    recent = SyncLog.objects.filter(user_id=log.user_id).order_by("-id")[: crm_setting("POISON_AFTER")]
    lost = [row for row in recent if row.error_category == Category.WORKER_LOST]
    if len(lost) >= crm_setting("POISON_AFTER"):
        log.error_category = Category.POISON
        log.error_message = f"stopped: {len(lost)} attempts in a row lost their worker; needs a human"
        log.retry_at = None
        log.save(update_fields=["error_category", "error_message", "retry_at"])
        log_event("poison", sync_log=log.pk, person=log.user_id)
        return None
    return next_attempt(log)


def close_lost_attempts():
    """Close rows `running` for longer than any attempt can take (their
    worker was killed) and queue the next attempt. Returns the rows to dispatch."""
    follow_ups = []
    for log_id in SyncLog.objects.lost().values_list("pk", flat=True):
        with transaction.atomic():
            log = SyncLog.objects.select_for_update().filter(pk=log_id, status=Status.RUNNING).first()
            if log is None:
                continue
            follow_up = close_orphan(log, "no word from the worker running this attempt; presumed dead")
        if follow_up:
            follow_ups.append(follow_up)
    return follow_ups


def release_interrupted(log_id, task_id):
    """Put a row whose attempt the database cut short back in the queue, if
    the database answers again; otherwise the sweep closes it later."""
    try:
        log = SyncLog.objects.filter(pk=log_id, status=Status.RUNNING, task_id=task_id).first()
        if log is None:
            return
        if log.lock_token:
            release_person(log.user_id, log.lock_token)
        log.status, log.task_id, log.lock_token = Status.QUEUED, "", ""
        log.error_message = "interrupted: the database went away"
        log.save(update_fields=["status", "task_id", "lock_token", "error_message"])
    except (OperationalError, InterfaceError):
        logger.warning("crm_sync: database still unreachable; SyncLog row %s is left for the sweep", log_id)
