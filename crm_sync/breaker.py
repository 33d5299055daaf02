"""A circuit breaker in front of AC, its state shared by every worker.

While AC is down (errors or timeouts in a row) or refuses the API key (403),
the breaker is open: no request goes out except one probe per reset interval
across all workers, and attempts wait without being spent (sync.py). The
first successful answer closes it again. The client consults it through the
`Breaker` protocol (crm.py).
"""
import time

from .crm import CONFIGURATION, OUTAGE
from .conf import crm_setting
from .events import log_event
from .shared_state import backend

__all__ = ["CLOSED", "CONFIGURATION", "OUTAGE", "CircuitBreaker", "CircuitOpen"]

CLOSED = {"state": "closed", "failures": 0}


class CircuitOpen(Exception):
    """AC is known to be down (or the key refused): wait, don't spend an attempt."""

    def __init__(self, wait, reason):
        super().__init__(f"circuit breaker open ({reason}): next probe in {wait:.0f}s")
        self.wait = wait
        self.reason = reason


class CircuitBreaker:
    """The breaker of one AC account: opens after `BREAKER_FAILURES`
    failures in a row (at once for a refused key), lets one probe through
    per `BREAKER_RESET_SECONDS`, closes on the first success."""

    def __init__(self, account_url):
        self.name = f"breaker:{account_url}"
        self.threshold = crm_setting("BREAKER_FAILURES")
        self.reset_seconds = crm_setting("BREAKER_RESET_SECONDS")

    def state(self):
        """{"state": "closed"|"open", "reason", "since", "until", "failures", "message"}"""
        return backend().get_state(self.name) or dict(CLOSED)

    def before_request(self):
        """Raise CircuitOpen unless a request may go out. Returns True when
        this request is the probe that tests whether AC is back."""
        state = self.state()
        if state["state"] == "closed":
            return False
        wait = state["until"] - time.time()
        if wait > 0:
            raise CircuitOpen(wait, state["reason"])
        # The lock is never released early: at most one probe per interval.
        if backend().acquire_lock(self.name + ":probe", self.reset_seconds):
            return True
        raise CircuitOpen(self.reset_seconds, state["reason"])

    def record_success(self):
        state = self.state()
        if state["state"] == "open":
            log_event("breaker_closed", reason=state["reason"], open_seconds=round(time.time() - state["since"]))
        if state != CLOSED:
            backend().set_state(self.name, dict(CLOSED))

    def record_failure(self, reason, message, probe=False):
        """Count a failure; open on the threshold, at once for a refused key or a failed probe."""
        state = self.state()
        failures = state.get("failures", 0) + 1
        if reason == CONFIGURATION or probe or state["state"] == "open" or failures >= self.threshold:
            self.open(reason, message, state)
        else:
            backend().set_state(self.name, {**state, "failures": failures})

    def open(self, reason, message, state=None):
        state = state or self.state()
        now = time.time()
        if state["state"] != "open":
            log_event("breaker_opened", reason=reason, message=message, reset_seconds=self.reset_seconds)
        backend().set_state(self.name, {
            "state": "open", "reason": reason, "message": message[:500],
            "since": state.get("since") if state["state"] == "open" else now,
            "until": now + self.reset_seconds, "failures": state.get("failures", 0) + 1,
        })

    def is_open(self):
        return self.state()["state"] == "open"
