"""Prometheus metrics: every metric crm_sync exposes is defined here once,
with the one-line functions the rest of the code calls to record events,
the collector that reads the database's figures at scrape time, and the
endpoint Prometheus scrapes (docs/operations.md, "Metrics").

Events (attempts, requests, limiter waits, webhooks) are counters and
histograms kept by the process they happen in. Celery's prefork pool and a
WSGI server run many processes, so when `PROMETHEUS_MULTIPROC_DIR` is set
each process writes its values to files there (prometheus_client's
multiprocess mode) and a scrape adds them up; without it, the one process's
own registry is scraped. State (backlog, oldest queued row, breaker, bulk
batches, last success) is read from the database at scrape time, so it is
right whichever process answers.

Labels are bounded: statuses, categories, endpoint templates (ids replaced
by `{id}`), never an email, a contact id, a person id or a batch id. Recording
never raises: a metric must not fail a sync.
"""
import hmac
import logging
import os
import re
from functools import wraps

from celery.signals import worker_process_shutdown
from django.db.models import Count, Exists, F, Min, OuterRef
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from .breaker import CircuitBreaker
from .conf import ac_account, crm_setting
from .crm import CONFIGURATION, OUTAGE
from .mapping import crm_mapping
from .models import ImportBatch, SyncLog

logger = logging.getLogger(__name__)
Status = SyncLog.Status

# Seconds from a badge's confirmation to its contact in the CRM: seconds when
# all is well, minutes through retries, an hour or more during an outage.
CONFIRMATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30)
# The webhook events the inbox acts on (inbox.RULES); any other type counts as "other".
WEBHOOK_TYPES = frozenset({"subscribe", "unsubscribe", "bounce"})

# -- the metrics, each defined once -------------------------------------------------------
ATTEMPTS = Counter(
    "crm_sync_attempts_total",
    "Sync attempts finished, by status, error category ('none' when no error) and attempt (first, retry).",
    ["status", "category", "attempt"])
CONFIRMATION_TO_CONTACT = Histogram(
    "crm_sync_confirmation_to_contact_seconds",
    "From a record's confirmation to its person's first successful sync after it (live syncs, not resyncs).",
    buckets=CONFIRMATION_BUCKETS)
IN_PROGRESS = Gauge(
    "crm_sync_attempts_in_progress", "Attempts being run right now by live processes.",
    multiprocess_mode="livesum")
REQUESTS = Counter(
    "crm_sync_requests_total", "Requests to the CRM, by endpoint template and status class (2xx, 4xx, 5xx, error).",
    ["method", "endpoint", "status_class"])
REQUEST_SECONDS = Histogram(
    "crm_sync_request_duration_seconds", "Time the CRM took to answer a request (or to fail), by endpoint template.",
    ["method", "endpoint"], buckets=REQUEST_BUCKETS)
RATE_LIMITED = Counter(
    "crm_sync_rate_limited_total", "429 answers from the CRM (its rate limit), by endpoint template.", ["endpoint"])
LIMITER_WAIT = Histogram(
    "crm_sync_rate_limit_wait_seconds", "Time a request waited for a slot of the account-wide rate limiter.",
    buckets=WAIT_BUCKETS)
LIMITER_DEFERRED = Counter(
    "crm_sync_rate_limit_deferred_total",
    "Requests whose rate-limiter slot was too far away: the attempt was put back in the queue.")
WEBHOOKS = Counter(
    "crm_sync_webhooks_received_total", "Webhook deliveries, by event type and outcome (stored, duplicate, refused).",
    ["type", "outcome"])
INBOX_EVENTS = Counter(
    "crm_sync_inbox_events_processed_total",
    "Inbox events (webhooks, the pull) processed, by source, type and outcome (applied, ignored, failed).",
    ["source", "type", "outcome"])


def never_raises(record):
    """A recording function that logs its failure (once per process) instead
    of raising it into the sync."""
    failed = []

    @wraps(record)
    def safely(*args, **kwargs):
        try:
            return record(*args, **kwargs)
        except Exception:
            if not failed:
                failed.append(True)
                logger.warning("crm_sync: recording a metric failed (%s); metrics may be incomplete",
                               record.__name__, exc_info=True)
            return None

    return safely


# -- attempts ------------------------------------------------------------------------------
@never_raises
def record_attempt(log):
    """One attempt ended (attempts.finish)."""
    record_attempts([log])


@never_raises
def record_attempts(rows):
    """Attempts that ended together: a bulk batch's rows (the importer's
    complete_batch and fail_batch), or one live attempt."""
    rows = [row for row in rows if not row.is_open]
    for row in rows:
        ATTEMPTS.labels(row.status, row.error_category or "none", "first" if row.attempt == 1 else "retry").inc()
    for seconds in confirmation_seconds(rows):
        CONFIRMATION_TO_CONTACT.observe(seconds)


def confirmation_seconds(rows):
    """For each row that is its record's first success after the record was
    confirmed (the moment the attendee waits for), the seconds in between.
    A resync's rows are left out: it sends people confirmed long ago on purpose.
    The rows must be saved; one query for any number of them."""
    candidates = [row.pk for row in rows if row.status == Status.SUCCESS and row.payload is not None
                  and row.badge_id and row.user_id and row.finished_at and row.trigger != SyncLog.Trigger.RESYNC]
    if not candidates:
        return []
    record_confirmed_at = F(f"badge__{crm_mapping().confirmed_at_field}")
    # The person already in the CRM since that confirmation: the row is a later change.
    earlier_success = (SyncLog.objects.filter(user=OuterRef("user"), status=Status.SUCCESS, payload__isnull=False,
                                              finished_at__gte=OuterRef("confirmed_at"),
                                              finished_at__lt=OuterRef("finished_at"))
                       .exclude(pk__in=candidates))
    firsts = (SyncLog.objects.filter(pk__in=candidates).annotate(confirmed_at=record_confirmed_at)
              .filter(confirmed_at__lte=F("finished_at")).exclude(Exists(earlier_success))
              .values_list("finished_at", "confirmed_at"))
    return [(finished_at - confirmed_at).total_seconds() for finished_at, confirmed_at in firsts]


# -- requests to the CRM ---------------------------------------------------------------------
# A path segment that is a word (`contacts`, `contact`, `sync`, `bulk_import`) is
# kept; anything else (an id, a hash, an email) becomes `{id}`.
WORD = re.compile(r"^[A-Za-z_]+$")


def endpoint_template(path):
    """`/api/3/contacts/123/contactTags?x=1` → `contacts/{id}/contactTags`: a bounded label."""
    path = path.split("?", 1)[0].strip("/")
    parts = path.split("/")
    if parts[:2] == ["api", "3"]:
        parts = parts[2:]
    return "/".join(part if WORD.match(part) else "{id}" for part in parts) or "/"


def status_class(status):
    return f"{status // 100}xx" if status else "error"


@never_raises
def record_request(report):
    """One request to the CRM, as the client reports it to its `on_request`
    hook (method, path, status or None, ms)."""
    method, endpoint = report.get("method", ""), endpoint_template(report.get("path", ""))
    REQUESTS.labels(method, endpoint, status_class(report.get("status"))).inc()
    REQUEST_SECONDS.labels(method, endpoint).observe((report.get("ms") or 0) / 1000)
    if report.get("status") == 429:
        RATE_LIMITED.labels(endpoint).inc()


def hearing_requests(on_request=None):
    """An `on_request` hook for a client that records each request, then
    passes it on to `on_request` (a SyncLog row's list, a command's tally)."""

    def hook(report):
        record_request(report)
        if on_request is not None:
            on_request(report)

    return hook


# -- the rate limiter -------------------------------------------------------------------------
@never_raises
def record_limiter_wait(wait, reserved):
    """A request asked the account-wide limiter for a slot: it waited `wait`
    seconds for it, or (not `reserved`) the slot was too far away."""
    if reserved:
        LIMITER_WAIT.observe(max(wait, 0.0))
    else:
        LIMITER_DEFERRED.inc()


# -- what the CRM tells us ----------------------------------------------------------------------
def webhook_type(event_type):
    return event_type if event_type in WEBHOOK_TYPES else "other"


@never_raises
def record_webhook(event_type, outcome):
    """A webhook delivery: `stored`, `duplicate` or `refused` (not an event)."""
    WEBHOOKS.labels(webhook_type(event_type), outcome).inc()


@never_raises
def record_inbox_event(event):
    """An inbox row's processing ended (inbox.finish)."""
    INBOX_EVENTS.labels(event.source, webhook_type(event.event_type), event.outcome).inc()


# -- processes ---------------------------------------------------------------------------------------
def multiprocess_dir():
    """The directory every process writes its values to, or "" (one process)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", os.environ.get("prometheus_multiproc_dir", ""))


@worker_process_shutdown.connect
def forget_worker_process(pid=None, **kwargs):
    """A Celery pool process ended: drop its live gauges (attempts in
    progress); its counters stay, as they must. A WSGI server's children
    need the same from the server's own hook (docs/operations.md)."""
    if multiprocess_dir() and pid:
        try:
            multiprocess.mark_process_dead(pid)
        except OSError:
            pass  # the directory was wiped under us: nothing left to forget


# -- state, read from the database at scrape time ---------------------------------------------
class DatabaseCollector:
    """The figures that are state, not events: asked of the database (and the
    shared breaker state) at each scrape, so every process answers alike."""

    def collect(self):
        try:
            families = list(self.families())
        except Exception:  # the database or the breaker's store down: the process figures still go out
            logger.warning("crm_sync: metrics: the database did not answer", exc_info=True)
            families = []
        readable = GaugeMetricFamily("crm_sync_database_up", "1 when the scrape could read crm_sync's figures "
                                     "from the database.", value=1 if families else 0)
        yield readable
        yield from families

    def families(self):
        now = timezone.now()
        queued = SyncLog.objects.filter(status=Status.QUEUED).aggregate(n=Count("pk"), oldest=Min("created_at"))
        yield GaugeMetricFamily("crm_sync_backlog", "Attempts queued, waiting for a worker (retries included).",
                                value=queued["n"])
        yield GaugeMetricFamily(
            "crm_sync_oldest_queued_age_seconds", "Age of the oldest queued attempt; 0 when none is queued.",
            value=(now - queued["oldest"]).total_seconds() if queued["oldest"] else 0)
        last = (SyncLog.objects.filter(status=Status.SUCCESS).order_by("-created_at", "-pk")
                .values_list("finished_at", flat=True).first())
        yield GaugeMetricFamily(
            "crm_sync_last_success_timestamp_seconds",
            "When the latest successful attempt finished (Unix time); 0 before the first.",
            value=last.timestamp() if last else 0)
        breaker = CircuitBreaker(ac_account()[0]).state()
        family = GaugeMetricFamily("crm_sync_breaker_open", "1 while the circuit breaker in front of the CRM is open, "
                                   "by reason (outage, configuration: a refused key).", labels=["reason"])
        for reason in (OUTAGE, CONFIGURATION):
            family.add_metric([reason], 1 if breaker["state"] == "open" and breaker.get("reason") == reason else 0)
        yield family
        yield from self.batches(now)

    def batches(self, now):
        lanes = [lane for lane, _ in ImportBatch.Lane.choices]
        in_flight = {row["lane"]: row for row in ImportBatch.objects.filter(status=ImportBatch.Status.IN_FLIGHT)
                     .values("lane").annotate(n=Count("pk"), oldest=Min("queued_at"))}
        count = GaugeMetricFamily("crm_sync_import_batches_in_flight",
                                  "Bulk import batches the CRM has not finished, by lane (resync, burst).",
                                  labels=["lane"])
        age = GaugeMetricFamily("crm_sync_import_batch_oldest_age_seconds",
                                "Age of the oldest bulk import batch in flight, by lane; 0 when none.", labels=["lane"])
        took = GaugeMetricFamily("crm_sync_import_batch_last_duration_seconds",
                                 "Queued to completed, for the latest batch the CRM finished, by lane; 0 before one.",
                                 labels=["lane"])
        for lane in lanes:
            row = in_flight.get(lane)
            count.add_metric([lane], row["n"] if row else 0)
            age.add_metric([lane], (now - row["oldest"]).total_seconds() if row else 0)
            latest = (ImportBatch.objects.filter(lane=lane, status=ImportBatch.Status.COMPLETED)
                      .exclude(completed_at=None).order_by("-completed_at").first())
            took.add_metric([lane], latest.import_seconds if latest else 0)
        yield from (count, age, took)


class Scrape:
    """What one scrape exposes: every process's values (from the shared
    directory in multiprocess mode, else this process's registry) and the
    database's figures."""

    def __init__(self):
        path = multiprocess_dir()
        if path:
            self.events = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.events, path=path)
        else:
            self.events = REGISTRY

    def collect(self):
        yield from self.events.collect()
        yield from DatabaseCollector().collect()


def exposition(accept=""):
    """(body, content type) of a scrape, in the format `accept` asks for."""
    encode, content_type = choose_encoder(accept)
    return encode(Scrape()), content_type


# -- the endpoint ---------------------------------------------------------------------------------------
def allowed(request):
    """A scraper with `Authorization: Bearer <METRICS_TOKEN>`, or a logged-in
    staff member. No token configured: staff only."""
    token = str(crm_setting("METRICS_TOKEN") or "")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def metrics_view(request):
    """Prometheus's scrape. Anyone else gets a 403 with an empty body."""
    if not allowed(request):
        return HttpResponseForbidden(b"")
    body, content_type = exposition(request.headers.get("Accept", ""))
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
