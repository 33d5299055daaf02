"""Queueing a sync: write the SyncLog row in the caller's transaction, and
hand it to Celery once that transaction commits.

The row is the outbox: if the broker cannot be reached the row simply stays
`queued`, the caller (a web request) never sees an error, and the beat sweep
dispatches it later. Dispatching a row twice is harmless (sync._claim).
"""
import logging
import time

from django.db import transaction
from django.utils import timezone

from .conf import crm_setting
from .models import SyncLog

logger = logging.getLogger(__name__)

# After a failed publish, skip publishing for a few seconds: every further
# request would otherwise wait for the same dead broker.
BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def queue_sync(user, badge=None, trigger=SyncLog.Trigger.SIGNAL):
    """Record a queued attempt for `user` and dispatch it on commit. Returns the row."""
    log = SyncLog.objects.create(user=user, badge=badge, email=(user.email or "").strip().lower(), trigger=trigger)
    transaction.on_commit(lambda: dispatch(log.pk), robust=True)
    return log


def dispatch(log_id, countdown=None):
    """Publish the task for one row. Returns False (and logs) if the broker
    could not take it; the row then waits for the sweep."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    from .tasks import sync_person

    try:
        sync_person.apply_async((log_id,), countdown=countdown, retry=False)
    except Exception as error:  # kombu raises OperationalError, redis its own errors
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("crm_sync: broker unreachable, SyncLog %s stays queued for the sweep (%s)",
                       log_id, type(error).__name__)
        return False
    SyncLog.objects.filter(pk=log_id).update(dispatched_at=timezone.now())
    return True


def dispatch_stranded():
    """Dispatch rows still queued a while after they were due. Returns how many."""
    cutoff = timezone.now() - timezone.timedelta(seconds=crm_setting("QUEUED_SWEEP_AFTER"))
    stranded = (
        SyncLog.objects.filter(status=SyncLog.Status.QUEUED, created_at__lt=cutoff)
        .exclude(not_before__gte=cutoff)
        .exclude(dispatched_at__gte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sent = 0
    for log_id in stranded.iterator():
        if not dispatch(log_id):
            break
        sent += 1
    return sent
