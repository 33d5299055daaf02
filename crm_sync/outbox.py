"""Queueing a sync: write the SyncLog row in the caller's transaction, and
hand it to Celery once that transaction commits.

The row is the outbox: if the broker cannot be reached the row simply stays
`queued`, the caller (a web request) never sees an error, and the beat sweep
dispatches it later. Dispatching a row twice is harmless (attempts.claim).
"""
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from celery import current_app
from django.db import transaction
from django.utils import timezone

from .attempts import close_lost_attempts, is_paused, open_attempt, unpause
from .models import SyncLog

logger = logging.getLogger(__name__)

# After a failed publish, skip publishing for a few seconds: every further
# request would otherwise wait for the same dead broker.
BROKER_BACKOFF_SECONDS = 5.0
# A publish that takes longer than this is abandoned by the caller (a broker
# that accepts connections and never answers must not hold up a web request).
PUBLISH_TIMEOUT_SECONDS = 1.0
_broker_down_until = 0.0
_publisher = None
# Where rows go instead of Celery inside `handoff()` (crm_sync.testing).
_handoff = None
SYNC_TASK = "crm_sync.tasks.sync_person"


def queue_sync(user, badge=None, trigger=SyncLog.Trigger.SIGNAL):
    """Record a queued attempt for `user` and dispatch it on commit. Returns the row."""
    log = open_attempt(user, badge, trigger)
    transaction.on_commit(lambda: dispatch(log.pk), robust=True)
    return log


def dispatch(log_id, countdown=None):
    """Publish the task for one row, waiting at most PUBLISH_TIMEOUT_SECONDS.

    Returns False (and logs) if the broker could not take it in time; the row
    then waits for the sweep. A publish abandoned here may still complete
    later: dispatching a row twice is harmless."""
    global _broker_down_until, _publisher
    if _handoff is not None:
        return _handoff(log_id, countdown)
    if time.monotonic() < _broker_down_until:
        return False
    if _publisher is None:  # created on first use, so after any fork
        _publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm_sync_publish")
    try:
        _publisher.submit(_publish, log_id, countdown).result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception as error:  # kombu's OperationalError, redis errors, or our own timeout
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("crm_sync: broker unreachable, SyncLog %s stays queued for the sweep (%s)",
                       log_id, type(error).__name__)
        return False
    SyncLog.objects.filter(pk=log_id).update(dispatched_at=timezone.now())
    return True


@contextmanager
def handoff(run):
    """Inside the block, hand each dispatched row to `run(log_id, countdown)`
    instead of Celery. crm_sync.testing builds its capture and eager modes on it."""
    global _handoff
    previous, _handoff = _handoff, run
    try:
        yield
    finally:
        _handoff = previous


def _publish(log_id, countdown):
    # By name from the app's registry: tasks.py imports this module, not the reverse.
    current_app.tasks[SYNC_TASK].apply_async((log_id,), countdown=countdown, retry=False)


def sweep():
    """Recover every stranded row (beat runs this): close attempts whose
    worker died, then dispatch queued rows overdue by a sweep age. Returns
    (closed, dispatched)."""
    if is_paused():
        return 0, 0
    follow_ups = close_lost_attempts()
    for follow_up in follow_ups:
        dispatch(follow_up.log.pk, countdown=follow_up.countdown or None)
    return len(follow_ups), dispatch_stranded()


def dispatch_stranded():
    """Dispatch queued rows overdue by `QUEUED_SWEEP_AFTER` that the broker
    never took, and those it took more than `REDISPATCH_AFTER` ago without a
    worker starting them. Returns how many."""
    stranded = SyncLog.objects.stranded().order_by("pk").values_list("pk", flat=True)
    return _dispatch_each(stranded.iterator())


def resume():
    """Send again: dispatch everything that queued up meanwhile. Returns how many."""
    unpause()
    queued = SyncLog.objects.filter(status=SyncLog.Status.QUEUED).order_by("pk").values_list("pk", flat=True)
    return _dispatch_each(queued.iterator())


def _dispatch_each(log_ids):
    """Dispatch rows in turn, stopping at the first the broker refuses. Returns how many went."""
    sent = 0
    for log_id in log_ids:
        if not dispatch(log_id):
            break
        sent += 1
    return sent


