"""The resync command's bulk path: people sent to ActiveCampaign's bulk
importer (API.md §7) in batches, and the batches finished once AC has
imported them.

A batch's SyncLog rows are written `running` before the request and carry
AC's `batchId` once AC has queued it, so a batch left in flight by a crash
or Ctrl-C is polled by the next run (or by `poll_open_batches()` from beat),
never sent again. When AC reports a batch completed, each person's
ContactState is updated as a live success would update it, so the live sync
afterwards knows what AC holds.
"""
import collections
import json
import logging
import time
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Count, Min
from django.utils import timezone

from .activecampaign.client import summarize_errors
from .errors import (
    CrmError,
    BadResponse,
    Category,
    ConfigurationError,
    NotFound,
    TransientError,
    ValidationFailed,
)
from .activecampaign.payloads import SUBSCRIBED, bulk_import_body, request_size
from .conf import ac_account, crm_setting
from .connection import make_client
from .mapping import crm_mapping
from .models import ContactState, SyncLog
from .outbox import queue_sync

logger = logging.getLogger(__name__)
Status = SyncLog.Status

BULK_PATH = "/import/bulk_import"
INFO_PATH = "/import/info"
MAX_CONTACTS = 250            # per request (API.md §7)
MAX_BYTES = 400_000           # a request must be under this many bytes (API.md §7)
MULTI_PER_MINUTE = 100        # the importer's own limits, apart from the 5 per second
SINGLE_PER_MINUTE = 20
RATE_WINDOW = 61.0            # AC's minute, plus a second for requests that arrive late
RATE_LIMITED_WAIT = 60.0      # after AC's "Rate limit exceeded." 400 (its only hint is "in a minute")
SEND_TRIES = 4
POLL_FIRST = 1.0              # seconds after sending before the first import/info
POLL_EVERY = 2.0
MAX_IN_FLIGHT = 20            # batches queued in AC before the sender waits for the oldest
STALE_AFTER = 15 * 60         # a resync row running this long without a batch id was abandoned


@dataclass
class BulkPerson:
    """One person on their way through the bulk importer."""

    user_id: int
    badge_id: int
    payload: object          # ContactPayload
    row: dict                # the bulk importer's row
    size: int
    log: SyncLog = None


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
        """The client's `on_request` hook: one more request to AC."""
        self.requests += 1


@dataclass
class Batch:
    """A batch AC has queued, until its import/info says completed."""

    batch_id: str
    size: int
    deadline: float
    next_poll_at: float
    polls: int = 0


class ImporterRate:
    """The bulk importer's per-minute budgets (100 multi-contact, 20
    single-contact requests), counted in this process before each request."""

    def __init__(self, sleep=time.sleep):
        self.sleep = sleep
        self.sent = {True: collections.deque(), False: collections.deque()}

    def wait_turn(self, single):
        limit = SINGLE_PER_MINUTE if single else MULTI_PER_MINUTE
        times = self.sent[single]
        while True:
            now = time.monotonic()
            while times and times[0] <= now - RATE_WINDOW:
                times.popleft()
            if len(times) < limit:
                times.append(now)
                return
            self.sleep(times[0] + RATE_WINDOW - now)


class BulkSender:
    """Sends batches and polls them, keeping up to MAX_IN_FLIGHT batches
    queued in AC while the next ones are built."""

    def __init__(self, client, account_url, tally, *, batch_size=MAX_CONTACTS, poll_timeout=900.0,
                 sleep=time.sleep):
        self.client = client
        self.account_url = account_url
        self.tally = tally
        self.batch_size = max(1, min(batch_size, MAX_CONTACTS))
        self.poll_timeout = poll_timeout
        self.sleep = sleep
        self.rate = ImporterRate(sleep)
        self.pending = []
        self.pending_size = 0
        self.in_flight = collections.deque()

    # -- batching --------------------------------------------------------
    def fits(self, person):
        """Whether `person` alone fits in a request."""
        return request_size(person.size, 1) < MAX_BYTES

    def add(self, person):
        """Queue `person`; send the pending batch first if they would not fit in it."""
        count = len(self.pending) + 1
        if self.pending and (count > self.batch_size
                             or request_size(self.pending_size + person.size, count) >= MAX_BYTES):
            self.flush()
        self.pending.append(person)
        self.pending_size += person.size

    def flush(self):
        people, self.pending, self.pending_size = self.pending, [], 0
        if people:
            self._open_rows(people)
            self._post(people, may_drop_named=True)
            self.poll()

    def drop_pending(self):
        """Forget the batch being built (after Ctrl-C): nothing was written for it."""
        dropped, self.pending, self.pending_size = len(self.pending), [], 0
        return dropped

    def _open_rows(self, people):
        now = timezone.now()
        logs = [
            SyncLog(
                user_id=person.user_id, badge_id=person.badge_id, email=person.payload.email,
                trigger=SyncLog.Trigger.RESYNC, status=Status.RUNNING, started_at=now,
                account_url=self.account_url, warnings=person.payload.warnings,
                payload={**person.payload.record(), "tags": person.payload.tags, "list_status": SUBSCRIBED},
                requests=[{"method": "POST", "path": "/api/3" + BULK_PATH, "body": bulk_import_body([person.row]),
                           "status": None, "response": ""}],
            )
            for person in people
        ]
        for person, log in zip(people, SyncLog.objects.bulk_create(logs)):
            person.log = log
        self.tally.sent += len(people)

    # -- sending ---------------------------------------------------------
    def _post(self, people, may_drop_named):
        """Send `people` as one request; on a rejection, fail the rows AC
        names and send the rest once more, or halve when it names none."""
        try:
            answer = self._request_bulk(bulk_import_body([person.row for person in people]), single=len(people) == 1)
        except ValidationFailed as error:
            named = named_rows(error.body, len(people))
            if len(people) == 1:
                self._fail(people, Category.VALIDATION, f"AC's bulk importer refused this contact: "
                                                 f"{named.get(0) or summarize_errors(error.body)}", 400)
            elif named and may_drop_named:
                for index, reason in named.items():
                    self._fail([people[index]], Category.VALIDATION,
                               f"AC's bulk importer refused this contact: {reason}", 400)
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
        batch_id = str(answer.get("batchId") or "")
        if not batch_id:
            self._fail(people, BadResponse.category, f"AC queued the import but gave no batchId: {answer}"[:500], 200)
            return
        SyncLog.objects.filter(pk__in=[person.log.pk for person in people]).update(batch_id=batch_id)
        now = time.monotonic()
        self.in_flight.append(Batch(batch_id, len(people), now + self.poll_timeout, now + POLL_FIRST))
        self.tally.batches += 1

    def _request_bulk(self, body, single):
        for attempt in range(1, SEND_TRIES + 1):
            self.rate.wait_turn(single)
            try:
                self.tally.bulk_requests += 1
                return self._call("POST", BULK_PATH, body=body)
            except ValidationFailed as error:
                if not is_rate_limited(error.body) or attempt == SEND_TRIES:
                    raise
                # Over the importer's minute (another process, or AC counts differently).
                self.sleep(RATE_LIMITED_WAIT)
            except TransientError:
                if attempt == SEND_TRIES:
                    raise
                # A timeout may mean AC queued it anyway; importing a contact twice is harmless.
                self.sleep(2 ** attempt)

    def _call(self, method, path, body=None, **params):
        # Requests are counted by the client's on_request hook (Tally.count_request).
        if method == "POST":
            return self.client.post(path, body)
        return self.client.get(path, **params)

    def _fail(self, people, category, message, status):
        now = timezone.now()
        for person in people:
            log = person.log
            log.status, log.error_category, log.error_message = Status.FAILED, category, message[:4000]
            log.finished_at = now
            log.requests[-1].update(status=status, response=message[: crm_setting("LOG_BODY_LIMIT")])
            log.api_calls = len(log.requests)
            self.tally.fail(log.email, category, message)
        SyncLog.objects.bulk_update([person.log for person in people],
                                    ["status", "error_category", "error_message", "finished_at", "requests", "api_calls"])

    # -- polling ---------------------------------------------------------
    def poll(self, block=False):
        """Poll the oldest batches that are due. Without `block`, return as
        soon as the oldest is not due (unless too many are in flight); with
        it, until every batch is finished or past its deadline."""
        while self.in_flight:
            batch = self.in_flight[0]
            now = time.monotonic()
            if batch.polls and now >= batch.deadline:
                # Left `running` with its batch id: the next run or beat polls it.
                self.in_flight.popleft()
                self.tally.still_importing += batch.size
                continue
            if now < batch.next_poll_at:
                if not block and len(self.in_flight) < MAX_IN_FLIGHT:
                    return
                self.sleep(batch.next_poll_at - now)
                continue
            batch.polls += 1
            batch.next_poll_at = now + POLL_EVERY
            try:
                answer = self._call("GET", INFO_PATH, batchId=batch.batch_id)
            except NotFound as error:
                self.in_flight.popleft()
                fail_batch(batch.batch_id, BadResponse.category, f"AC no longer knows batch {batch.batch_id}: {error}",
                           self.tally)
                continue
            except (TransientError, ValidationFailed) as error:
                logger.warning("crm_sync resync: polling batch %s: %s", batch.batch_id, error)
                continue
            if str(answer.get("status", "")).lower() == "completed":
                self.in_flight.popleft()
                complete_batch(batch.batch_id, answer, self.tally)


# -- AC's answers --------------------------------------------------------------
def named_rows(body, count):
    """{index: reason} for the rows a rejection names (API.md §7:
    `failureReasons: [{"contact": index, "failureReason": ...}]`)."""
    named = {}
    reasons = body.get("failureReasons") if isinstance(body, dict) else None
    for item in reasons or []:
        if isinstance(item, dict) and str(item.get("contact", "")).isdigit() and int(item["contact"]) < count:
            index = int(item["contact"])
            reason = str(item.get("failureReason") or "refused")
            named[index] = f"{named[index]}; {reason}" if index in named else reason
    return named


def is_rate_limited(body):
    return isinstance(body, dict) and "rate limit" in str(body.get("message", "")).lower()


def _failed_emails(answer):
    emails = set()
    for item in answer.get("failure") or []:
        email = item.get("email") if isinstance(item, dict) else item
        if email:
            emails.add(str(email).strip().lower())
    return emails


def _record(method, path, status, response):
    return {"method": method, "path": "/api/3" + path, "body": None, "status": status,
            "response": json.dumps(response)[: crm_setting("LOG_BODY_LIMIT")]}


# -- finishing batches ---------------------------------------------------------
def complete_batch(batch_id, answer, tally):
    """Close the rows of a batch AC reports completed: failed if AC lists
    their email under `failure`, else success, with ContactState updated as
    a live success would update it."""
    failures = _failed_emails(answer)
    rows = list(SyncLog.objects.filter(batch_id=batch_id, status=Status.RUNNING))
    if not rows:
        return
    now = timezone.now()
    info = _record("GET", f"{INFO_PATH}?batchId={batch_id}", 200,
                   {"status": answer.get("status"), "failed_in_batch": sorted(failures)})
    succeeded = []
    for row in rows:
        if row.requests:
            row.requests[-1].update(status=200, response=f"queued as batch {batch_id}")
        row.requests = [*row.requests, info]
        row.api_calls = len(row.requests)
        row.finished_at = now
        if row.email.lower() in failures:
            row.status, row.error_category = Status.FAILED, Category.VALIDATION
            row.error_message = f"AC's importer reported this contact as failed (batch {batch_id}); it gives no reason"
            tally.fail(row.email, row.error_category, row.error_message)
        else:
            row.status, row.error_message = Status.SUCCESS, f"imported by AC in bulk (batch {batch_id})"
            succeeded.append(row)
            tally.succeeded += 1
    with transaction.atomic():
        SyncLog.objects.bulk_update(rows, ["status", "error_category", "error_message", "finished_at",
                                           "requests", "api_calls"])
        _record_success(succeeded, now)


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
                raced.append(row)  # a live sync succeeded while AC was importing: order unknown
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
    ContactState.objects.bulk_update(changed, fields)
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


def fail_batch(batch_id, category, message, tally):
    rows = SyncLog.objects.filter(batch_id=batch_id, status=Status.RUNNING)
    for email in rows.values_list("email", flat=True):
        tally.fail(email, category, message)
    rows.update(status=Status.FAILED, error_category=category, error_message=message[:4000],
                finished_at=timezone.now())


def close_abandoned_rows():
    """Fail resync rows left running without a batch id by a run that
    stopped before AC answered (they were never queued, or we cannot know)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=STALE_AFTER)
    return SyncLog.objects.filter(
        status=Status.RUNNING, trigger=SyncLog.Trigger.RESYNC, batch_id="", task_id="", started_at__lt=cutoff,
    ).update(status=Status.FAILED, error_category=Category.WORKER_LOST, finished_at=timezone.now(),
             error_message="the resync run stopped before AC acknowledged this contact; run the resync again")


def open_batches(account_url):
    """{batch id: rows still `running`} for this account, oldest batch first."""
    rows = (SyncLog.objects.filter(status=Status.RUNNING, trigger=SyncLog.Trigger.RESYNC, account_url=account_url)
            .exclude(batch_id=""))
    return dict(rows.values_list("batch_id").annotate(size=Count("id"), first=Min("id"))
                .order_by("first").values_list("batch_id", "size"))


def poll_open_batches(wait=0.0, client=None, sleep=time.sleep):
    """Finish bulk batches left in flight by an earlier run (Ctrl-C, a crash,
    a poll time limit). Beat can call it with no arguments: each open batch
    is polled once. With `wait`, polls until they complete or `wait` seconds
    pass. Returns a Tally; batches still importing stay open. The requests
    of a `client` given are counted by that client's own on_request hook."""
    tally = Tally()
    close_abandoned_rows()
    account_url = ac_account()[0]
    batches = open_batches(account_url)
    if not batches:
        return tally
    own_client = client is None
    client = client or make_client(patient=True, on_request=tally.count_request)
    try:
        sender = BulkSender(client, account_url, tally, poll_timeout=wait, sleep=sleep)
        now = time.monotonic()
        sender.in_flight.extend(Batch(batch_id, size, now + wait, now) for batch_id, size in batches.items())
        sender.poll(block=True)
    finally:
        if own_client:
            client.close()
    return tally
