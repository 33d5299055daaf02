"""Queueing a sync: write the SyncLog row in the caller's transaction, and
hand it to Celery once that transaction commits, from a background thread
(publisher.dispatch_soon): the request pays for the INSERT and nothing more.

The row is the outbox: if the broker cannot be reached, or the process dies
before its relay thread publishes, the row simply stays `queued`, the caller
(a web request) never sees an error, and the beat sweep dispatches it later.
Dispatching a row twice is harmless (attempts.claim).
"""
import logging

from django.db import transaction
from django.utils import timezone

from .attempts import close_lost_attempts, is_paused, open_attempt, row_email, unpause
from .models import SyncLog
from .publisher import Publisher

logger = logging.getLogger(__name__)

SYNC_TASK = "crm_sync.tasks.sync_person"


def _mark_dispatched(log_id):
    SyncLog.objects.filter(pk=log_id).update(dispatched_at=timezone.now())
    # A row queued by key alone (a confirmation) gets its email here, off the request path.
    log = SyncLog.objects.filter(pk=log_id, email="").select_related("user").first()
    if log is not None and log.user is not None:
        SyncLog.objects.filter(pk=log_id, email="").update(email=row_email(log.user))


# The broker's deadlines and backoff: crm_sync/publisher.py.
publisher = Publisher(SYNC_TASK, "SyncLog row", on_published=_mark_dispatched)
dispatch = publisher.dispatch
# Inside the block, dispatched rows go to `run(log_id, countdown)` instead of Celery (crm_sync.testing).
handoff = publisher.handoff


def queue_sync(user, badge=None, trigger=SyncLog.Trigger.SIGNAL):
    """Record a queued attempt for `user` (a person, or their primary key)
    and dispatch it on commit. Returns the row.

    Within one transaction a person is queued once per trigger: a request
    that saves the person, their badge and their consent writes one row, not
    three. Coalescing is safe because the row is not dispatched, so no
    worker can claim it, before the commit, and the attempt reads the
    person's data as it is when it runs. It costs no query: the rows queued
    are remembered in memory (`_queued_in_this_transaction`)."""
    queued = _queued_in_this_transaction()
    key = (getattr(user, "pk", user), trigger)
    if queued is not None and key in queued:
        log, dispatch_on_commit = queued[key]
        # Still waiting for the commit: not rolled back with a savepoint, not handed over.
        if any(entry[1] is dispatch_on_commit for entry in transaction.get_connection().run_on_commit):
            return log
    log = open_attempt(user, badge, trigger)

    def dispatch_on_commit():
        publisher.dispatch_soon(log.pk)  # the relay thread publishes: the request does not wait

    transaction.on_commit(dispatch_on_commit, robust=True)
    if queued is not None:
        queued[key] = (log, dispatch_on_commit)
    return log


def _queued_in_this_transaction():
    """{(person pk, trigger): (row, its dispatch_on_commit)} for the rows
    queued in the current transaction, or None outside an atomic block.

    Kept on the connection for the outermost atomic block the code opened.
    A test's own blocks (Django's TestCase, pytest-django's `db`) do not
    count: they stand for the autocommit a request runs in. A savepoint's id
    tells one use of a block object (a decorator) from the next in a test,
    where the outer transaction never commits."""
    connection = transaction.get_connection()
    blocks, sids = connection.atomic_blocks, connection.savepoint_ids
    begun_by_a_block = len(blocks) - len(sids)  # the block that began the transaction has no savepoint id
    for depth, block in enumerate(blocks):
        if not getattr(block, "_from_testcase", False):
            scope = (block, sids[depth - begun_by_a_block] if depth >= begun_by_a_block else None)
            break
    else:
        return None
    held = getattr(connection, "crm_sync_queued", None)
    if held is None or held[0] != scope:
        held = connection.crm_sync_queued = (scope, {})
    return held[1]


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


