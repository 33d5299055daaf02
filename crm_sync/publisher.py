"""Handing a row's id to its Celery task without making anyone wait on the
broker: the outbox (syncs), the inbox (the CRM's webhooks) and erasures each
keep one `Publisher`.

The row in the database is the guarantee; the message is only a wake-up
call. A publish is given PUBLISH_TIMEOUT_SECONDS on a background thread; if
the broker is down or stalled, the row waits for its beat sweep, and for
BROKER_BACKOFF_SECONDS no further publish is tried, so a dead broker costs
one request at most one second every few seconds. A publish abandoned here
may still complete later: every task does nothing for a row already done,
so a row dispatched twice is harmless.
"""
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from celery import current_app

logger = logging.getLogger("crm_sync")

PUBLISH_TIMEOUT_SECONDS = 1.0
BROKER_BACKOFF_SECONDS = 5.0


class Publisher:
    """Publishes `task_name(row_id)`. `what` names the rows in log lines
    ("SyncLog row"); `on_published(row_id)`, if given, runs after each
    publish the broker took."""

    def __init__(self, task_name, what, on_published=None):
        self.task_name = task_name
        self.what = what
        self.on_published = on_published
        self.down_until = 0.0     # monotonic time before which the broker counts as down
        self.run_instead = None   # inside `handoff()`: where ids go instead of Celery
        self._executor = None     # created on first use, so after any fork

    def dispatch(self, row_id, countdown=None):
        """Publish the task for one row. Returns False (and logs) when the
        broker could not take it in time: the row then waits for the sweep."""
        if self.run_instead is not None:
            return self.run_instead(row_id, countdown)
        if time.monotonic() < self.down_until:
            return False
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm_sync_publish")
        try:
            self._executor.submit(self._publish, row_id, countdown).result(timeout=PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:  # kombu's OperationalError, redis errors, or our own timeout
            self.down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
            logger.warning("crm_sync: broker unreachable, %s %s waits for the sweep (%s)",
                           self.what, row_id, type(error).__name__)
            return False
        if self.on_published is not None:
            self.on_published(row_id)
        return True

    def _publish(self, row_id, countdown):
        # By name from the app's registry: tasks.py imports the modules that publish, not the reverse.
        current_app.tasks[self.task_name].apply_async((row_id,), countdown=countdown, retry=False)

    @contextmanager
    def handoff(self, run):
        """Inside the block, hand each dispatched id to `run(row_id,
        countdown)` instead of Celery (crm_sync.testing and the tests use it)."""
        previous, self.run_instead = self.run_instead, run
        try:
            yield
        finally:
            self.run_instead = previous
