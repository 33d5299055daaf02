"""Is crm_sync healthy? The one place that decides, for the health view a
load balancer or uptime monitor calls (`health/`, `health_view` below)
and for `crm_sync_status --check` (cron, systemd timers).

The checks are django-health-check's `HealthCheck` classes: its own for the
database and for Celery's workers (`Ping`: a worker answers and every queue
in CELERY_TASK_QUEUES has a consumer), crm_sync's own below for the broker,
the circuit breaker, the backlog's age and the pause switch. `evaluate()`
runs them one after the other in the calling thread (no thread pool: the
database check must use the caller's connection) and gives a `Report`.

A check fails by raising `ServiceUnavailable`; it may instead raise
`ServiceWarning` for something worth showing that is not, by itself, a
reason to page anyone: an operator's deliberate pause. What a check says is
served without a login, so it names states and reasons, never a person, an
address, an AC answer's body or a secret.
"""
import datetime
import logging
import time
from dataclasses import dataclass, field

from celery import current_app
from django.db.models import Min
from django.http import JsonResponse
from django.utils.cache import add_never_cache_headers
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.celery import Ping
from health_check.exceptions import HealthCheckException, ServiceUnavailable, ServiceWarning

from .attempts import pause_state
from .breaker import CircuitBreaker
from .conf import ac_account, crm_setting
from .models import SyncLog

logger = logging.getLogger(__name__)
# Short: a health check is called every few seconds and must answer quickly.
WORKER_TIMEOUT = datetime.timedelta(seconds=1)
BROKER_TIMEOUT = 2.0


@dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection (whatever its transport)."""

    def run(self):
        try:
            with current_app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
        except Exception as error:  # kombu raises its own errors per transport
            raise ServiceUnavailable(f"cannot connect to the broker ({type(error).__name__})") from error


@dataclass
class BreakerClosed(HealthCheck):
    """The circuit breaker in front of the CRM is closed. Open means AC is
    down or refuses the key: nothing is sent until it closes."""

    def run(self):
        state = CircuitBreaker(ac_account()[0]).state()
        if state["state"] == "open":
            since = (datetime.datetime.fromtimestamp(state["since"], datetime.timezone.utc)
                     if state.get("since") else None)
            # The reason only (outage, configuration): AC's message may quote an answer.
            raise ServiceUnavailable(f"circuit breaker open ({state.get('reason', 'unknown')})"
                                     + (f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else ""))


@dataclass
class QueuedAge(HealthCheck):
    """The oldest queued SyncLog row is younger than HEALTH_MAX_QUEUED_AGE
    seconds: the workers keep up (or a pause has not lasted too long)."""

    def run(self):
        oldest = SyncLog.objects.filter(status=SyncLog.Status.QUEUED).aggregate(oldest=Min("created_at"))["oldest"]
        if oldest is None:
            return
        age = (timezone.now() - oldest).total_seconds()
        limit = crm_setting("HEALTH_MAX_QUEUED_AGE")
        if age > limit:
            paused = pause_state()
            raise ServiceUnavailable(f"oldest queued sync is {age:.0f}s old (limit {limit:g}s)"
                                     + (f"; sending is paused: {paused.get('reason')}" if paused.get("on") else ""))


@dataclass
class Sending(HealthCheck):
    """Sending is on. Paused by the staging guard is unhealthy: nobody chose
    it here. Paused by an operator (or the PAUSED setting) is a warning: it
    was chosen on purpose, and QueuedAge still turns unhealthy if it lasts."""

    def run(self):
        paused = pause_state()
        if not paused.get("on"):
            return
        reason = paused.get("reason") or "no reason given"
        if paused.get("source") == "staging_guard":
            raise ServiceUnavailable(f"paused by the {reason}")
        raise ServiceWarning(f"paused on purpose ({paused.get('source', 'operator')}): {reason}")


# Name in the report -> what makes the check (a fresh one each run). The
# order is the order of the report.
CHECKS = {
    "database": Database,
    "broker": Broker,
    "workers": lambda: Ping(timeout=WORKER_TIMEOUT),
    "breaker": BreakerClosed,
    "queued_age": QueuedAge,
    "sending": Sending,
}


@dataclass
class Result:
    name: str
    status: str            # "ok", "warning" or "unhealthy"
    detail: str
    seconds: float

    def as_dict(self):
        return {"status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}


@dataclass
class Report:
    results: list = field(default_factory=list)

    @property
    def healthy(self):
        return all(result.status != "unhealthy" for result in self.results)

    @property
    def problems(self):
        return [result for result in self.results if result.status == "unhealthy"]

    def as_dict(self):
        return {"status": "ok" if self.healthy else "unhealthy",
                "checks": {result.name: result.as_dict() for result in self.results}}


def evaluate(checks=None):
    """Run every check (or those named) and return the Report."""
    report = Report()
    for name in checks or CHECKS:
        report.results.append(run_check(name, CHECKS[name]()))
    return report


def run_check(name, check):
    started = time.monotonic()
    try:
        check.run()
    except ServiceWarning as warning:
        status, detail = "warning", warning.message
    except HealthCheckException as error:
        status, detail = "unhealthy", error.message
    except Exception:
        # Not shown: an unexpected error's text may hold anything. It is in the log.
        logger.exception("health check %s failed unexpectedly", name)
        status, detail = "unhealthy", "unexpected error (see the log)"
    else:
        status, detail = "ok", "ok"
    return Result(name, status, detail, time.monotonic() - started)


def health_view(request):
    """200 and the report as JSON when healthy, 503 and the same JSON naming
    what is wrong otherwise. No login: a load balancer does not log in; the
    report holds no personal data and no secret (see the module's docstring)."""
    report = evaluate()
    response = JsonResponse(report.as_dict(), status=200 if report.healthy else 503)
    add_never_cache_headers(response)
    return response
