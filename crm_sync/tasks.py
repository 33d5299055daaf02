"""Celery tasks: thin. They load by id, call the service, dispatch what it
asks for. Arguments are ids only, never personal data (task results are stored)."""
from celery import shared_task
from django.db import InterfaceError, OperationalError, connection

from . import outbox, reconcile as reconciler
from .attempts import release_interrupted, run_attempt
from .importer import poll_open_batches
from .retention import purge_old_logs

DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_SECONDS = 2


@shared_task(acks_late=True, reject_on_worker_lost=True, bind=True, max_retries=None)
def sync_person(self, log_id):
    """Run the attempt recorded in SyncLog row `log_id`."""
    try:
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
    """Beat: finish bulk resync batches a run left in flight."""
    poll_open_batches()


@shared_task(ignore_result=True)
def purge_logs():
    """Beat, daily: delete and redact old SyncLog rows (retention.py)."""
    purge_old_logs()
