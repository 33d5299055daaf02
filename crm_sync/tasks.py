"""Celery tasks: thin. They load by id, call the service, dispatch what it
asks for. Arguments are ids only, never personal data (task results are stored)."""
from celery import shared_task
from django.db import InterfaceError, OperationalError, connection

from . import alerts
from . import burst, erasure, inbox, outbox, pull as consent_pull, reconcile as reconciler
from .attempts import release_interrupted, run_attempt
from .events import log_event
from .importer import poll_open_batches
from .retention import purge_old_logs

DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_SECONDS = 2


@shared_task(acks_late=True, reject_on_worker_lost=True, bind=True, max_retries=None)
def sync_person(self, log_id):
    """Run the attempt recorded in SyncLog row `log_id`, unless a burst
    sends it through the bulk importer (burst.py)."""
    try:
        if burst.hand_over(log_id):
            return
        follow_up = run_attempt(log_id, task_id=self.request.id or "").follow_up
    except DATABASE_ERRORS as error:
        # The database went away mid-attempt (a restart, a failover). The
        # attempt could not even be recorded: put the row back in the queue
        # and deliver this same message again shortly. Not an attempt spent.
        connection.close()
        release_interrupted(log_id, self.request.id or "")
        raise self.retry(exc=error, countdown=DATABASE_RETRY_SECONDS)
    if follow_up is not None:
        outbox.dispatch(follow_up.log.pk, countdown=follow_up.countdown or None)


@shared_task(ignore_result=True)
def sweep():
    """Beat: recover rows whose worker died and rows that never reached a worker."""
    outbox.sweep()


@shared_task(ignore_result=True)
def reconcile():
    """Beat: queue people whose record changed without a post_save."""
    reconciler.reconcile()


@shared_task(ignore_result=True)
def poll_resync_batches():
    """Beat: finish bulk batches a resync run or a burst left in flight, and
    drain rows left waiting for the bulk importer."""
    poll_open_batches()
    burst.kick_if_waiting()


@shared_task(ignore_result=True, bind=True)
def drain_burst(self, _unused=0):
    """Send the rows a burst handed to the bulk importer (burst.py)."""
    burst.drain(self.request.id or "")


@shared_task(ignore_result=True)
def poll_burst(_unused=0):
    """Finish a burst's batches the CRM has imported (burst.py)."""
    burst.poll()


@shared_task(ignore_result=True)
def purge_logs():
    """Beat, daily: delete and redact old SyncLog rows (retention.py)."""
    purge_old_logs()


@shared_task(ignore_result=True)
def pull_consent():
    """Beat, every PULL_INTERVAL: the safety net under the CRM's webhooks
    (pull.py). A pull the CRM, the breaker or the limiter stops is logged;
    the next one asks again from the same point."""
    try:
        consent_pull.pull()
    except consent_pull.STOPPED as error:
        log_event("consent_pull_stopped", reason=str(error)[:300])


@shared_task(acks_late=True, reject_on_worker_lost=True, bind=True, max_retries=None)
def process_inbox_event(self, event_id):
    """Apply one event the CRM told us about (InboxEvent row `event_id`,
    inbox.py); dispatch it again when it must wait or failed."""
    try:
        countdown = inbox.run(event_id)
    except DATABASE_ERRORS as error:
        # As sync_person: the database went away; deliver this message again shortly.
        connection.close()
        raise self.retry(exc=error, countdown=DATABASE_RETRY_SECONDS)
    if countdown is not None:
        inbox.dispatch(event_id, countdown=countdown)


@shared_task(ignore_result=True)
def sweep_inbox():
    """Beat: dispatch inbox rows the broker never took, and failed ones whose retry is due."""
    inbox.sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True, bind=True, max_retries=None)
def erase_contact(self, receipt_id):
    """Erase the CRM contact of ErasureReceipt `receipt_id` (erasure.py),
    delivered at least once like `sync_person`."""
    try:
        countdown = erasure.run_erasure(receipt_id)
    except DATABASE_ERRORS as error:
        # The receipt is still open: deliver this same message again shortly.
        connection.close()
        raise self.retry(exc=error, countdown=DATABASE_RETRY_SECONDS)
    if countdown is not None:
        erasure.dispatch(receipt_id, countdown=countdown)


@shared_task(ignore_result=True)
def sweep_erasures():
    """Beat: dispatch erasures due again (the CRM's deletion cap, lost messages)."""
    erasure.sweep()


@shared_task(ignore_result=True)
def evaluate_alerts():
    """Beat, every CRM_SYNC_ALERT_INTERVAL: evaluate the alert rules, send
    what started or ended, retry channels that failed (alerts.py)."""
    alerts.evaluate()
