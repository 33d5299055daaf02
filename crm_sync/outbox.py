"""Queueing a sync: write the SyncLog row in the caller's transaction, and
hand it to Celery once that transaction commits.

The row is the outbox: if the broker cannot be reached the row simply stays
`queued`, the caller (a web request) never sees an error, and the beat sweep
dispatches it later. Dispatching a row twice is harmless (attempts.claim).
"""
import logging

from django.db import transaction
from django.utils import timezone

from .attempts import close_lost_attempts, is_paused, open_attempt, unpause
from .models import SyncLog
from .publisher import Publisher

logger = logging.getLogger(__name__)

SYNC_TASK = "crm_sync.tasks.sync_person"


def _mark_dispatched(log_id):
    SyncLog.objects.filter(pk=log_id).update(dispatched_at=timezone.now())


# The broker's deadlines and backoff: crm_sync/publisher.py.
publisher = Publisher(SYNC_TASK, "SyncLog row", on_published=_mark_dispatched)
dispatch = publisher.dispatch
# Inside the block, dispatched rows go to `run(log_id, countdown)` instead of Celery (crm_sync.testing).
handoff = publisher.handoff


def queue_sync(user, badge=None, trigger=SyncLog.Trigger.SIGNAL):
    """Record a queued attempt for `user` and dispatch it on commit. Returns the row."""
    log = open_attempt(user, badge, trigger)
    transaction.on_commit(lambda: dispatch(log.pk), robust=True)
    return log


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


