"""The bulk-import path (the resync's backfills and bursts): people sent to
the CRM's bulk importer in batches, and the batches finished once the CRM
has imported them. It speaks to the CRM only through its backend
(`crm.CrmBackend`: bulk_row, bulk_import, import_report and the importer's
limits); what AC's importer takes and answers is in the AC package.

A batch's SyncLog rows are written `running` before the request and carry
the CRM's batch id once it has queued the batch, so a batch left in flight
by a crash or Ctrl-C is polled by the next run (or by `poll_open_batches()`
from beat), never sent again. When the CRM reports a batch imported, each
person's ContactState is updated as a live success would update it, so the
live sync afterwards knows what the CRM holds.
"""
import collections
import logging
import time
from dataclasses import dataclass, field

from django.db import IntegrityError, connections, reset_queries, router, transaction
from django.db.models import Count, Min
from django.utils import timezone

from . import metrics
from .conf import ac_account, crm_setting
from .connection import backend_class, make_backend
from .crm import SUBSCRIBED
from .errors import (
    BulkRateLimited,
    Category,
    ConfigurationError,
    CrmError,
    NotBulkable,
    NotFound,
    RowsRejected,
    TransientError,
    ValidationFailed,
)
from .mapping import crm_mapping
from .attempts import backoff, next_attempt
from .models import ContactState, ImportBatch, SyncLog
from .outbox import dispatch, queue_sync

logger = logging.getLogger(__name__)
Status = SyncLog.Status

MAX_BATCH_SIZE = backend_class().bulk_limits.max_rows   # people per request, at most
SEND_TRIES = 4
POLL_FIRST = 1.0              # seconds after sending before the first import report, at the soonest
POLL_EVERY = 2.0
# Batches queued in the CRM before the sender waits for the oldest. The
# importer's own budget (AC: 100 requests a minute) paces the sending; this
# only stops the sender running far ahead of a CRM that stopped importing:
# five minutes of AC's budget. A batch in flight costs a few bytes here (its
# rows are in the database), so a slow importer is no reason to stop sending.
MAX_IN_FLIGHT = 500
STALE_AFTER = 15 * 60         # a resync row running this long without a batch id was abandoned
# What finishing a bulk row changes.
FINISHED_FIELDS = ("status", "error_category", "error_message", "finished_at", "requests", "api_calls")
# What sending a burst's rows (already written, claimed `running`) fills in.
SENT_FIELDS = ("email", "account_url", "warnings", "payload", "requests")
# A live sync the importer could not finish is tried again per person when
# it failed for one of these (a resync's rows wait for the next run instead).
RETRY_PER_PERSON = {Category.NETWORK, Category.RATE_LIMITED, Category.SERVER_ERROR, Category.BAD_RESPONSE,
                    Category.IMPORT_FAILED, Category.VALIDATION, Category.CONFIGURATION}


@dataclass
class BulkPerson:
    """One person on their way through the bulk importer."""

    user_id: int
    badge_id: int
    payload: object          # ContactPayload
    row: dict                # the bulk importer's row (backend.bulk_row)
    size: int                # backend.bulk_row_size(row)
    log: SyncLog = None      # a burst's row, claimed already; a resync's is written when sent


@dataclass
class Tally:
    """What a run (or a poll of open batches) did, for the summary."""

    sent: int = 0
    succeeded: int = 0
    failed: list = field(default_factory=list)   # (email, category, message)
    still_importing: int = 0
    requests: int = 0
    bulk_requests: int = 0
    batches: int = 0

    def fail(self, email, category, message):
        self.failed.append((email, category, message))

    def count_request(self, report):
        """The backend's `on_request` hook: one more request to the CRM."""
        self.requests += 1


@dataclass
class Batch:
    """A batch the CRM has queued, until its import report says finished."""

    batch_id: str
    size: int
    deadline: float
    next_poll_at: float
    polls: int = 0
    sent_at: float = 0.0          # time.monotonic(); 0 for a batch of an earlier run
    importing_at: float = 0.0     # the last poll that found it still importing


class ImporterRate:
    """The bulk importer's own budgets of requests (`crm.BulkLimits`; AC's:
    100 multi-contact and 20 single-contact requests a minute), counted in
    this process before each request."""

    def __init__(self, limits, sleep=time.sleep):
        self.limits = limits
        self.sleep = sleep
        self.sent = {True: collections.deque(), False: collections.deque()}

    def wait_turn(self, single, idle=None):
        """Take a turn for a request of one row (`single`) or several;
        while the budget is spent, `idle(seconds)` (by default, sleep)
        fills the wait: the sender polls the batches in flight meanwhile."""
        limit = self.limits.single_row_requests if single else self.limits.multi_row_requests
        window = self.limits.window
        times = self.sent[single]
        while True:
            now = time.monotonic()
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) < limit:
                times.append(now)
                return
            (idle or self.sleep)(times[0] + window - now)


class BulkSender:
    """Sends batches through `backend` (a crm.CrmBackend) and polls them,
    keeping up to MAX_IN_FLIGHT batches queued in the CRM while the next
    ones are built.

    Every request, poll or import, takes a slot of the account's rate (AC:
    5 a second), so polls are spent sparingly and where they cost no wait:
    only the oldest batch is polled (the CRM imports in order); its first
    poll comes when the last batches took to import (`first_poll`, learnt
    as the run goes); it is made between two people of the next batch once
    a slot of the rate is free, or while the importer's own budget makes
    the sender wait."""

    def __init__(self, backend, account_url, tally, *, batch_size=MAX_BATCH_SIZE, poll_timeout=900.0,
                 sleep=time.sleep, lane=ImportBatch.Lane.RESYNC):
        self.backend = backend
        self.account_url = account_url
        self.lane = lane
        self.tally = tally
        self.batch_size = max(1, min(batch_size, backend.bulk_limits.max_rows))
        self.poll_timeout = poll_timeout
        self.sleep = sleep
        self.rate = ImporterRate(backend.bulk_limits, sleep)
        self.pending = []
        self.pending_size = 0
        self.in_flight = collections.deque()
        self.first_poll = POLL_FIRST   # seconds from sending to a batch's first poll
        self.request_gap = 1.0 / crm_setting("RATE_LIMIT_PER_SECOND")   # one slot of the account's rate
        self.last_request_at = 0.0

    # -- batching --------------------------------------------------------
    def person(self, user_id, badge_id, payload, *, exclude_automations, log=None):
        """A BulkPerson for `payload`, or None when the importer cannot carry them."""
        try:
            row = self.backend.bulk_row(payload, exclude_automations=exclude_automations)
        except NotBulkable:
            return None
        return BulkPerson(user_id, badge_id, payload, row, self.backend.bulk_row_size(row), log)

    def fits(self, person):
        """Whether `person` alone fits in a request."""
        return self.backend.bulk_fits(person.size, 1)

    def add(self, person):
        """Queue `person`; send the pending batch first if they would not fit
        in it. Polls the oldest batch in flight when it is due and the
        account's rate has a slot free (`poll_if_free`)."""
        count = len(self.pending) + 1
        if self.pending and (count > self.batch_size
                             or not self.backend.bulk_fits(self.pending_size + person.size, count)):
            self.flush()
        self.pending.append(person)
        self.pending_size += person.size
        self.poll_if_free()

    def flush(self):
        people, self.pending, self.pending_size = self.pending, [], 0
        if people:
            self._open_rows(people)
            self._post(people, may_drop_named=True)
            if len(self.in_flight) >= MAX_IN_FLIGHT:
                self.poll()

    def drop_pending(self):
        """Forget the batch being built (after Ctrl-C): nothing was written for it."""
        dropped, self.pending, self.pending_size = len(self.pending), [], 0
        return dropped

    def _open_rows(self, people):
        """Write each person's row `running` with what is sent: new rows for
        a resync, the claimed rows themselves for a burst."""
        now = timezone.now()
        new, claimed = [], []
        for person in people:
            log = person.log or SyncLog(user_id=person.user_id, badge_id=person.badge_id,
                                        trigger=SyncLog.Trigger.RESYNC, status=Status.RUNNING, started_at=now)
            log.email, log.account_url, log.warnings = person.payload.email, self.account_url, person.payload.warnings
            log.payload = {**person.payload.record(), "tags": person.payload.tags, "list_status": SUBSCRIBED}
            log.requests = [*log.requests, self.backend.bulk_request_record(person.row)]
            (claimed if person.log else new).append(person)
            person.log = log
        update_each(SyncLog, [person.log for person in claimed], SENT_FIELDS)
        for person, log in zip(new, SyncLog.objects.bulk_create([person.log for person in new])):
            person.log = log
        self.tally.sent += len(people)

    # -- sending ---------------------------------------------------------
    def _post(self, people, may_drop_named):
        """Send `people` as one request; on a rejection, fail the rows the
        CRM names and send the rest once more, or halve when it names none."""
        try:
            batch_id = self._send([person.row for person in people])
        except RowsRejected as error:
            refused = f"{self.backend.name}'s bulk importer refused this contact"
            named = error.rows
            if len(people) == 1:
                self._fail(people, error.category, f"{refused}: {named.get(0) or error.reason}", error.status)
            elif named and may_drop_named:
                for index, reason in named.items():
                    self._fail([people[index]], error.category, f"{refused}: {reason}", error.status)
                rest = [person for index, person in enumerate(people) if index not in named]
                if rest:
                    self._post(rest, may_drop_named=False)
            else:
                half = len(people) // 2
                self._post(people[:half], may_drop_named=True)
                self._post(people[half:], may_drop_named=True)
            return
        except CrmError as error:
            self._fail(people, error.category, str(error), error.status)
            if isinstance(error, ConfigurationError):
                raise  # every later request would fail the same way
            return
        with transaction.atomic():
            SyncLog.objects.filter(pk__in=[person.log.pk for person in people]).update(batch_id=batch_id)
            ImportBatch.objects.create(batch_id=batch_id, account_url=self.account_url, lane=self.lane,
                                       size=len(people))
        now = time.monotonic()
        self.in_flight.append(Batch(batch_id, len(people), now + self.poll_timeout,
                                    now + max(POLL_FIRST, self.first_poll), sent_at=now))
        self.tally.batches += 1

    def _send(self, rows):
        """The batch id; tries again after the importer's own rate limit and
        after errors worth retrying. Requests are counted by the backend's
        on_request hook (Tally.count_request)."""
        for attempt in range(1, SEND_TRIES + 1):
            self.rate.wait_turn(single=len(rows) == 1, idle=self._idle)
            try:
                self.tally.bulk_requests += 1
                return self._request(self.backend.bulk_import, rows)
            except BulkRateLimited as error:
                if attempt == SEND_TRIES:
                    raise
                # Over the importer's own budget (another process, or the CRM counts differently).
                self._idle(error.retry_after)
            except CrmError as error:
                if not error.retryable or attempt == SEND_TRIES:
                    raise
                # A timeout may mean the CRM queued it anyway; importing a contact twice is harmless.
                self.sleep(2 ** attempt)

    def _request(self, call, *args):
        """`call(*args)`, a request to the CRM; notes when it ended."""
        try:
            return call(*args)
        finally:
            self.last_request_at = time.monotonic()

    def _fail(self, people, category, message, status):
        now = timezone.now()
        for person in people:
            log = person.log
            log.status, log.error_category, log.error_message = Status.FAILED, category, message[:4000]
            log.finished_at = now
            log.requests[-1].update(status=status, response=message[: crm_setting("LOG_BODY_LIMIT")])
            log.api_calls = len(log.requests)
            self.tally.fail(log.email, category, message)
        update_each(SyncLog, [person.log for person in people], FINISHED_FIELDS)
        metrics.record_attempts([person.log for person in people])
        retry_per_person([person.log for person in people])

    # -- polling ---------------------------------------------------------
    def _idle(self, seconds):
        """Wait `seconds`, polling the batches in flight meanwhile."""
        if self.in_flight:
            self.poll(until=time.monotonic() + seconds)
        else:
            self.sleep(seconds)

    def poll(self, block=False, until=None):
        """Poll the oldest batches that are due. Without `block`, return as
        soon as the oldest is not due (unless too many are in flight); with
        it, until every batch is finished or past its deadline; with
        `until` (a time.monotonic()), at that time."""
        while self.in_flight:
            batch = self.in_flight[0]
            now = time.monotonic()
            if until is not None and now >= until:
                return
            if batch.polls and now >= batch.deadline:
                # Left `running` with its batch id: the next run or beat polls it.
                self.in_flight.popleft()
                self.tally.still_importing += batch.size
                continue
            if now < batch.next_poll_at:
                if not block and until is None and len(self.in_flight) < MAX_IN_FLIGHT:
                    return
                self.sleep((batch.next_poll_at if until is None else min(batch.next_poll_at, until)) - now)
                continue
            self._poll_oldest(now)
        if until is not None and time.monotonic() < until:
            self.sleep(until - time.monotonic())

    def poll_finished(self):
        """Poll the oldest batch, and the next while each is found finished:
        the CRM imports in order, so one still importing ends the round."""
        while self.in_flight:
            oldest = self.in_flight[0]
            self._poll_oldest(time.monotonic())
            if self.in_flight and self.in_flight[0] is oldest:
                return

    def poll_if_free(self):
        """Poll the oldest batch if it is due and a slot of the account's
        rate has passed since this sender's last request, so that the poll
        waits for none (the next batch is being built meanwhile)."""
        now = time.monotonic()
        if self.in_flight and now >= self.in_flight[0].next_poll_at and now - self.last_request_at >= self.request_gap:
            self._poll_oldest(now)

    def _poll_oldest(self, now):
        """Ask the CRM about the oldest batch in flight once; finish it if it is done."""
        batch = self.in_flight[0]
        batch.polls += 1
        batch.next_poll_at = now + POLL_EVERY
        try:
            report = self._request(self.backend.import_report, batch.batch_id)
        except NotFound as error:
            self.in_flight.popleft()
            fail_batch(batch.batch_id, Category.BAD_RESPONSE,
                       f"{self.backend.name} no longer knows batch {batch.batch_id}: {error}", self.tally)
            return
        except (TransientError, ValidationFailed) as error:
            logger.warning("crm_sync resync: polling batch %s: %s", batch.batch_id, error)
            return
        if not report.finished:
            batch.importing_at = now
            return
        self.in_flight.popleft()
        self._learn_import_time(batch, now)
        complete_batch(batch.batch_id, report, self.backend, self.tally)
        # With DEBUG on, Django keeps every query's SQL until a request ends,
        # and sending is one long "request": a batch's inserts are ~1 MB of SQL.
        reset_queries()

    def _learn_import_time(self, batch, finished_by):
        """When to poll the next batches first: when this one would have
        been seen imported had its polls come on time (POLL_EVERY after the
        last that found it importing), or a little sooner than before if it
        was imported at its first poll (imports may have become quicker).
        Each poll that finds a batch still importing costs a slot of the
        account's rate; one that comes late only delays that batch's rows."""
        if not batch.sent_at:
            return  # left by an earlier run: its import time is unknown
        if batch.importing_at:
            seen = min(finished_by, batch.importing_at + POLL_EVERY) - batch.sent_at
        else:
            seen = 0.9 * min(self.first_poll, finished_by - batch.sent_at)
        self.first_poll = max(POLL_FIRST, seen)


# -- finishing batches ---------------------------------------------------------
def complete_batch(batch_id, report, backend, tally):
    """Close the rows of a batch the CRM reports imported (a crm.ImportReport):
    failed if it lists their email as failed, else success, with
    ContactState updated as a live success would update it."""
    failures = report.failed_emails
    rows = list(SyncLog.objects.filter(batch_id=batch_id, status=Status.RUNNING))
    if not rows:
        return
    if report.aborted:
        fail_batch(batch_id, Category.IMPORT_FAILED,
                   f"{backend.name}'s importer ended batch {batch_id} as '{report.status}': these contacts were not "
                   "(all) imported. Sending them again is safe: run resync_crm again (or retry the row).", tally,
                   request=backend.import_report_record(batch_id, report))
        return
    now = timezone.now()
    info = backend.import_report_record(batch_id, report)
    succeeded = []
    for row in rows:
        if row.requests:
            row.requests[-1].update(status=200, response=f"queued as batch {batch_id}")
        row.requests = [*row.requests, info]
        row.api_calls = len(row.requests)
        row.finished_at = now
        if row.email.lower() in failures:
            row.status, row.error_category = Status.FAILED, Category.VALIDATION
            row.error_message = (f"{backend.name}'s importer reported this contact as failed (batch {batch_id}); "
                                 "it gives no reason")
            tally.fail(row.email, row.error_category, row.error_message)
        else:
            row.status, row.error_message = Status.SUCCESS, f"imported by {backend.name} in bulk (batch {batch_id})"
            succeeded.append(row)
            tally.succeeded += 1
    with transaction.atomic():
        update_each(SyncLog, rows, FINISHED_FIELDS)
        metrics.record_attempts(rows)
        _record_success(succeeded, now)
        ImportBatch.objects.filter(batch_id=batch_id, status=ImportBatch.Status.IN_FLIGHT).update(
            status=ImportBatch.Status.COMPLETED, completed_at=now)
    retry_per_person([row for row in rows if row.status == Status.FAILED])


def _record_success(rows, now):
    """ContactState as a live success leaves it: what was sent, the tags
    (never fewer), subscribed, and when."""
    rows = [row for row in rows if row.user_id is not None]
    if not rows:
        return
    account_url = rows[0].account_url
    states = {state.user_id: state
              for state in ContactState.objects.filter(account_url=account_url, user_id__in=[r.user_id for r in rows])}
    changed, new, raced = [], [], []
    for row in rows:
        state = states.get(row.user_id)
        if state is None:
            state = ContactState(user_id=row.user_id, account_url=account_url)
            new.append(state)
        else:
            changed.append(state)
            if state.last_success_at and row.started_at and state.last_success_at > row.started_at:
                raced.append(row)  # a live sync succeeded while the CRM was importing: order unknown
        payload = row.payload
        state.sent = {"email": payload["email"], "contact": payload["contact"], "fields": payload["fields"]}
        known = {name.lower() for name in state.tags}
        state.tags = [*state.tags, *(name for name in payload["tags"] if name.lower() not in known)]
        # The importer attaches every tag in the row, so `tags` covers what
        # the mapping wants: the live sync need not read them back.
        state.tags_known = True
        state.list_status = SUBSCRIBED
        state.last_success_at = now
    fields = ["sent", "tags", "tags_known", "list_status", "last_success_at", "updated_at"]
    for state in changed:
        state.updated_at = now
    update_each(ContactState, changed, fields)
    try:
        with transaction.atomic():
            ContactState.objects.bulk_create(new)
    except IntegrityError:  # a live sync created some of them meanwhile
        for state in new:
            ContactState.objects.update_or_create(
                user_id=state.user_id, account_url=account_url,
                defaults={name: getattr(state, name) for name in fields if name != "updated_at"},
            )
    if raced:
        # Let the live sync compare the person as they are now with what
        # the import wrote; it sends only if they differ.
        for user in crm_mapping().person_model._default_manager.filter(pk__in=[row.user_id for row in raced]):
            queue_sync(user, trigger=SyncLog.Trigger.RESYNC)


def fail_batch(batch_id, category, message, tally, request=None):
    """Fail every row of the batch still `running`; `request`, the last
    request about the batch, is added to each row's requests."""
    rows = list(SyncLog.objects.filter(batch_id=batch_id, status=Status.RUNNING))
    now = timezone.now()
    for row in rows:
        if row.requests and row.requests[-1].get("status") is None:
            row.requests[-1].update(status=200, response=f"queued as batch {batch_id}")
        if request is not None:
            row.requests = [*row.requests, request]
            row.api_calls = len(row.requests)
        row.status, row.error_category, row.error_message = Status.FAILED, category, message[:4000]
        row.finished_at = now
        tally.fail(row.email, category, message)
    update_each(SyncLog, rows, FINISHED_FIELDS)
    metrics.record_attempts(rows)
    ImportBatch.objects.filter(batch_id=batch_id, status=ImportBatch.Status.IN_FLIGHT).update(
        status=ImportBatch.Status.FAILED, completed_at=now, error=message[:4000])
    retry_per_person(rows)


def retry_per_person(rows):
    """A burst's rows are live syncs: one the importer failed is tried
    again as the next attempt, per person, as a live failure would be (the
    per-person path also gets the CRM's reason where the importer gives
    none). A resync's rows wait for the next run."""
    now = timezone.now()
    for row in rows:
        if (row.trigger == SyncLog.Trigger.RESYNC or row.user_id is None
                or row.error_category not in RETRY_PER_PERSON or row.attempt >= crm_setting("MAX_ATTEMPTS")):
            continue
        # A rejected contact is asked about at once; an importer in trouble after the usual backoff.
        wait = 0 if row.error_category == Category.VALIDATION else backoff(row.attempt)
        row.retry_at = now + timezone.timedelta(seconds=wait)
        SyncLog.objects.filter(pk=row.pk).update(retry_at=row.retry_at)
        follow_up = next_attempt(row)
        dispatch(follow_up.log.pk, countdown=follow_up.countdown or None)


def update_each(model, objects, fields):
    """Save `fields` of each of `objects` (instances of `model`), one UPDATE
    by primary key each, sent as one executemany. What `bulk_update` does,
    without the CASE over every row and field it builds: for a batch of 250
    rows that CASE took longer to build than all else a batch costs us."""
    if not objects:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    sql = (f"UPDATE {quote(meta.db_table)} SET {', '.join(f'{quote(column.column)} = %s' for column in columns)} "
           f"WHERE {quote(meta.pk.column)} = %s")
    params = [[column.get_db_prep_save(getattr(obj, column.attname), connection) for column in columns] + [obj.pk]
              for obj in objects]
    # One transaction: outside one, each UPDATE would be committed (and synced to disk) on its own.
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, params)


def close_overdue_batches(account_url, tally):
    """Fail the rows of batches the CRM has not finished within
    `CRM_SYNC["BULK_IMPORT_DEADLINE"]` of being sent, instead of polling
    them for ever; the next resync sends those people again."""
    deadline = crm_setting("BULK_IMPORT_DEADLINE")
    cutoff = timezone.now() - timezone.timedelta(seconds=deadline)
    overdue = (SyncLog.objects.filter(status=Status.RUNNING, account_url=account_url, started_at__lt=cutoff)
               .exclude(batch_id="")
               .values_list("batch_id", flat=True).distinct())
    for batch_id in list(overdue):
        fail_batch(batch_id, Category.IMPORT_FAILED,
                   f"{backend_class().name}'s importer had not finished batch {batch_id} after {deadline / 60:g} "
                   "minutes; no longer waiting for it. Sending these contacts again is safe: run resync_crm again "
                   "(or retry the row).", tally)


def close_abandoned_rows():
    """Fail resync rows left running without a batch id by a run that
    stopped before the CRM answered (they were never queued, or we cannot know)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=STALE_AFTER)
    message = f"the resync run stopped before {backend_class().name} acknowledged this contact; run the resync again"
    return SyncLog.objects.filter(
        status=Status.RUNNING, trigger=SyncLog.Trigger.RESYNC, batch_id="", task_id="", started_at__lt=cutoff,
    ).update(status=Status.FAILED, error_category=Category.WORKER_LOST, finished_at=timezone.now(),
             error_message=message)


def open_batches(account_url):
    """{batch id: rows still `running`} for this account, oldest batch
    first: a resync's and a burst's."""
    rows = SyncLog.objects.filter(status=Status.RUNNING, account_url=account_url).exclude(batch_id="")
    return dict(rows.values_list("batch_id").annotate(size=Count("id"), first=Min("id"))
                .order_by("first").values_list("batch_id", "size"))


def poll_open_batches(wait=0.0, backend=None, sleep=time.sleep):
    """Finish bulk batches left in flight by an earlier run (Ctrl-C, a crash,
    a poll time limit). Beat can call it with no arguments: each open batch
    is polled once. With `wait`, polls until they complete or `wait` seconds
    pass. Returns a Tally; batches still importing stay open. The requests
    of a `backend` given are counted by its own on_request hook."""
    tally = Tally()
    close_abandoned_rows()
    account_url = ac_account()[0]
    close_overdue_batches(account_url, tally)
    batches = open_batches(account_url)
    if not batches:
        return tally
    own_backend = backend is None
    backend = backend or make_backend(patient=True, on_request=tally.count_request)
    try:
        sender = BulkSender(backend, account_url, tally, poll_timeout=wait, sleep=sleep)
        now = time.monotonic()
        sender.in_flight.extend(Batch(batch_id, size, now + wait, now) for batch_id, size in batches.items())
        sender.poll(block=True)
    finally:
        if own_backend:
            backend.close()
    return tally
