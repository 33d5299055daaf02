"""Sending webhook deliveries as AC does, and recording what happened to each.

AC POSTs form data, gives up after about 5 seconds, never retries, follows
no redirect, and switches a webhook off for good when it answers 410
(docs/activecampaign.md §8, §11.2). One background thread sends the queued
deliveries one at a time, in the order their events happened, so a receiver
sees AC's order unless a fault says otherwise:

- ``webhook_drop``: recorded as ``dropped``, never sent;
- ``webhook_duplicate``: sent twice, one after the other;
- ``webhook_delay_seconds``: sent that long after the event;
- ``webhook_reverse_order``: ``held`` until ``flush()``, then sent newest first.

The faults are read when an event is queued. Each HTTP POST is one record
(``GET /_sandbox/webhook_deliveries``); a record shows the URL masked, never
whole, since a receiver's URL carries its secret token.
"""

import collections
import dataclasses
import heapq
import http.client
import logging
import threading
import time
import urllib.error
import urllib.request

from .webhooks import masked_url

logger = logging.getLogger("crm_sync.sandbox")

DELIVERY_TIMEOUT_SECONDS = 5  # AC abandons a delivery after about 5 s (docs/activecampaign.md §11.2)
RECORDS_KEPT = 10_000
USER_AGENT = "ac-sandbox-webhooks"
FORM = "application/x-www-form-urlencoded"


@dataclasses.dataclass
class Target:
    """One webhook an event goes to: where, with which body. ``url`` stays in memory only."""

    webhook_id: int
    url: str
    initiated_from: str
    body: bytes


@dataclasses.dataclass
class _Job:
    generation: int
    target: Target
    record: dict


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """AC follows no redirect: the 3xx itself is the answer recorded."""

    def redirect_request(self, *args, **kwargs):
        return None


def _describe(error):
    """Why a delivery got no HTTP answer, without the URL (which holds the receiver's token)."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"no answer within {DELIVERY_TIMEOUT_SECONDS} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__


class WebhookSender:
    """The delivery queue, its worker's step (``send_due``) and the delivery records. Thread-safe."""

    def __init__(self, store, faults):
        self.store = store
        self.faults = faults
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())
        self._generation = 0
        self.clear()

    def clear(self):
        """Forget queued and held deliveries and the records (a reset); a send in flight is not recorded."""
        with self._lock:
            self._generation += 1
            self._queue = []  # heap of (due, order, job)
            self._held = []
            self._order = 0
            self._records = collections.deque(maxlen=RECORDS_KEPT)
            self._seq = 0
            self._events = 0

    # -- queueing (called after the change's transaction commits) ------------

    def enqueue(self, event, targets):
        """Queue one event's deliveries, shaped by the faults as they are now.

        ``event`` summarises it for the records (``type``, ``email``,
        ``contact``, ``list``, ``date_time``); ``targets`` are the webhooks
        that hear it.
        """
        faults = self.faults.snapshot()
        copies = 2 if faults["webhook_duplicate"] else 1
        applied = [name for name in ("webhook_drop", "webhook_duplicate", "webhook_reverse_order")
                   if faults[name]] + (["webhook_delay_seconds"] if faults["webhook_delay_seconds"] else [])
        now = time.time()
        with self._lock:
            self._events += 1
            for target in targets:
                for _ in range(1 if faults["webhook_drop"] else copies):
                    record = self._new_record(self._events, event, target, applied, now)
                    if faults["webhook_drop"]:
                        record["outcome"] = "dropped"
                    elif faults["webhook_reverse_order"]:
                        record["outcome"] = "held"
                        self._held.append(_Job(self._generation, target, record))
                    else:
                        self._push(now + faults["webhook_delay_seconds"], _Job(self._generation, target, record))

    def _new_record(self, event_number, event, target, applied, now):
        self._seq += 1
        record = {"seq": self._seq, "event": event_number, "webhook": str(target.webhook_id),
                  "type": event["type"], "email": event["email"], "contact": event["contact"],
                  "list": event["list"], "initiated_from": target.initiated_from, "date_time": event["date_time"],
                  "url": masked_url(target.url), "faults": list(applied), "outcome": "pending",
                  "status": None, "error": None, "queued_at": now, "sent_at": None}
        self._records.append(record)
        return record

    def _push(self, due, job):
        self._order += 1
        heapq.heappush(self._queue, (due, self._order, job))

    def flush(self):
        """Queue the held deliveries newest first, to be sent at once; return how many."""
        with self._lock:
            held, self._held = self._held, []
            now = time.time()
            for job in reversed(held):
                job.record["outcome"] = "pending"
                self._push(now, job)
            return len(held)

    # -- sending (the worker thread) -----------------------------------------

    def send_due(self):
        """Send every delivery whose time has come, oldest first; return how many were taken."""
        taken = 0
        while True:
            with self._lock:
                if not self._queue or self._queue[0][0] > time.time():
                    return taken
                job = heapq.heappop(self._queue)[2]
            taken += 1
            self._send(job)

    def _send(self, job):
        if not self._still_listening(job.target.webhook_id):
            self._finish(job, "skipped", error="the webhook was deleted or switched off before its turn")
            return
        request = urllib.request.Request(
            job.target.url, data=job.target.body, method="POST",
            headers={"Content-Type": FORM, "User-Agent": USER_AGENT})
        try:
            with self._opener.open(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            # Never retried, as AC never retries (docs/activecampaign.md §8).
            self._finish(job, "failed", error=_describe(error))
            return
        if status == 410:
            self._switch_off(job)
        self._finish(job, "delivered", status=status)

    def _still_listening(self, webhook_id):
        with self.store.transaction():
            row = self.store.get_webhook(webhook_id)
        return row is not None and bool(row["active"])

    def _switch_off(self, job):
        """A 410 switches the webhook off for good, as AC does; it must be deleted and made again."""
        with self._lock:
            current = job.generation == self._generation
        if current:
            with self.store.transaction():
                self.store.deactivate_webhook(job.target.webhook_id)

    def _finish(self, job, outcome, status=None, error=None):
        with self._lock:
            if job.generation != self._generation:
                return  # queued before a reset
            job.record.update(outcome=outcome, status=status, error=error, sent_at=time.time())
        logger.debug("webhook %s to %s: %s %s", job.record["type"], job.record["url"], outcome, status or error)

    # -- views ---------------------------------------------------------------

    def records(self, since=0):
        """Delivery records with ``seq`` greater than ``since``, oldest first."""
        with self._lock:
            return [dict(record, faults=list(record["faults"])) for record in self._records
                    if record["seq"] > since]
