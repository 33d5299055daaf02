"""Handing a row's id to its Celery task without making anyone wait on the
broker: the outbox (syncs), the inbox (the CRM's webhooks) and erasures each
keep one `Publisher`.

The row in the database is the guarantee; the message is only a wake-up
call. Two ways to publish:

- `dispatch_soon(id)`, for a web request's commit: the id goes to this
  process's relay thread and the request returns at once. The relay
  publishes and marks the row dispatched; if the process dies first, the
  row is still `queued` and the beat sweep sends it.
- `dispatch(id)`, for the sweeps and the worker: waits up to
  PUBLISH_TIMEOUT_SECONDS and says whether the broker took it.

If the broker is down or stalled, the row waits for its sweep, and for
BROKER_BACKOFF_SECONDS no further publish is tried. A publish abandoned here
may still complete later: every task does nothing for a row already done,
so a row dispatched twice is harmless.
"""
import atexit
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from celery import current_app
from django.db import connection

logger = logging.getLogger("crm_sync")

PUBLISH_TIMEOUT_SECONDS = 1.0
BROKER_BACKOFF_SECONDS = 5.0
EXIT_FLUSH_SECONDS = 2.0


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
        self._relay = None        # (pid, queue of ids, thread): dispatch_soon's, one per process

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
            self._broker_down(row_id, error)
            return False
        if self.on_published is not None:
            self.on_published(row_id)
        return True

    def dispatch_soon(self, row_id):
        """Publish the task for one row from this process's relay thread;
        return at once. Use it where someone waits (a web request's commit)."""
        if self.run_instead is not None:
            self.run_instead(row_id, None)
        elif time.monotonic() >= self.down_until:
            self._relay_queue().put(row_id)

    def flush(self, timeout=5.0):
        """Wait until the relay has handed on every id given to it, up to
        `timeout` seconds. Returns True if it has."""
        relay = self._relay
        if relay is None or relay[0] != os.getpid():
            return True
        deadline = time.monotonic() + timeout
        while relay[1].unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not relay[1].unfinished_tasks

    def _relay_queue(self):
        # A forked process (prefork WSGI, Celery's pool) inherits the parent's
        # queue but not its thread: each process starts its own.
        if self._relay is None or self._relay[0] != os.getpid():
            ids = queue.Queue()
            thread = threading.Thread(target=self._relay_loop, args=(ids,), daemon=True,
                                      name=f"crm_sync_relay_{self.task_name.rsplit('.', 1)[-1]}")
            self._relay = (os.getpid(), ids, thread)
            thread.start()
            atexit.register(self.flush, EXIT_FLUSH_SECONDS)  # a process that exits cleanly hands on what it holds
        return self._relay[1]

    def _relay_loop(self, ids):
        while True:
            row_id = ids.get()
            try:
                if time.monotonic() < self.down_until:
                    continue  # the sweep sends it once the broker is back
                try:
                    self._publish(row_id, None)
                except Exception as error:
                    self._broker_down(row_id, error)
                    continue
                if self.on_published is not None:
                    self.on_published(row_id)
            except Exception:  # the database, for on_published: the sweep covers the row
                logger.exception("crm_sync: relay could not record %s %s as dispatched", self.what, row_id)
            finally:
                ids.task_done()
                if ids.empty():
                    connection.close()  # this thread's own connection: none held while idle

    def _broker_down(self, row_id, error):
        self.down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("crm_sync: broker unreachable, %s %s waits for the sweep (%s)",
                       self.what, row_id, type(error).__name__)

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
