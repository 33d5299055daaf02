"""The fault/config object that the control API reads and edits.

``FaultConfig`` holds the current values (``DEFAULTS`` below, documented in
docs/sandbox.md) and the seeded random generator that decides which requests
a probabilistic fault hits, so a failing run can be replayed with ``seed``.
"""

import copy
import random
import threading

DEFAULTS = {
    "latency_ms": 0,
    "jitter_ms": 0,
    "error_rate": 0.0,
    "error_statuses": [500, 503],
    "timeout_before_write_rate": 0.0,
    "timeout_after_write_rate": 0.0,
    "timeout_seconds": 30,
    "burst_429": {"every": 0, "length": 0},
    "down": None,
    "malformed": None,
    "malformed_rate": 1.0,
    "malformed_status": None,
    "rate_limit_per_second": 5,
    "retry_after": 1,
    "bulk_delay_seconds": 2.0,
    "bulk_seconds_per_contact": 0.001,
    "bulk_multi_per_minute": 100,
    "bulk_single_per_minute": 20,
    # Emails the importer refuses at import time (after the batch was
    # accepted): reported under import/info's `failure`, not written.
    "bulk_fail_emails": [],
    # How batches queued while this is set end (stored on the batch when it
    # is queued): "completed", "failed" (nothing written), "interrupted"
    # (the first half written) or "never" (stays "active").
    "bulk_outcome": "completed",
    # AC answers a wrong or expired key with 200 and its HTML login page
    # (docs/activecampaign.md §11.1): every API request gets that page.
    "login_page": False,
    # AC sometimes answers a valid key with 403 (§11.1): the next N
    # authenticated API requests get 403, counting down.
    "forbidden_next": 0,
    # Webhook deliveries (docs/activecampaign.md §8, §11.2). AC delivers at
    # least once and never retries; these make that visible to a receiver.
    # Drop every delivery (recorded as "dropped", never sent).
    "webhook_drop": False,
    # Send every delivery twice, one after the other.
    "webhook_duplicate": False,
    # Send each delivery this many seconds after its event.
    "webhook_delay_seconds": 0,
    # Hold deliveries until POST /_sandbox/webhooks/flush, then send them
    # newest first.
    "webhook_reverse_order": False,
    # AC caps deletions per month (§11.4): null = no cap; N = DELETE
    # /contacts/{id} beyond N successful deletions this calendar month
    # (account timezone) answers 422.
    "deletion_limit": None,
    "seed": None,
}

DOWN_MODES = (None, "503", "refused")
MALFORMED_MODES = (None, "html", "empty", "message", "errors_string")
BULK_OUTCOMES = ("completed", "failed", "interrupted", "never")


class FaultConfigError(ValueError):
    """An update the control API must refuse with 400; the message says why."""


def _number(key, value, low=0, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultConfigError(f"{key} must be a number")
    if value < low or (high is not None and value > high):
        raise FaultConfigError(f"{key} must be between {low} and {high}" if high is not None else f"{key} must be >= {low}")
    return value


def _integer(key, value, low=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise FaultConfigError(f"{key} must be an integer >= {low}")
    return value


def _boolean(key, value):
    if not isinstance(value, bool):
        raise FaultConfigError(f"{key} must be true or false")
    return value


def _one_of(key, value, allowed):
    if value not in allowed:
        raise FaultConfigError(f"{key} must be one of {list(allowed)}")
    return value


def _validated(key, value, current):
    """The value to store for ``key``, or FaultConfigError."""
    if key in ("latency_ms", "jitter_ms", "timeout_seconds", "bulk_delay_seconds", "bulk_seconds_per_contact"):
        return _number(key, value)
    if key in ("error_rate", "timeout_before_write_rate", "timeout_after_write_rate", "malformed_rate"):
        return float(_number(key, value, 0, 1))
    if key in ("rate_limit_per_second", "bulk_multi_per_minute", "bulk_single_per_minute"):
        return _integer(key, value, 1)
    if key in ("retry_after", "forbidden_next"):
        return _integer(key, value, 0)
    if key in ("login_page", "webhook_drop", "webhook_duplicate", "webhook_reverse_order"):
        return _boolean(key, value)
    if key == "webhook_delay_seconds":
        return _number(key, value, 0, 3600)
    if key == "deletion_limit":
        return None if value is None else _integer(key, value)
    if key == "bulk_outcome":
        return _one_of(key, value, BULK_OUTCOMES)
    if key == "error_statuses":
        if not isinstance(value, list) or not value:
            raise FaultConfigError("error_statuses must be a non-empty list of HTTP statuses")
        return [_integer("error_statuses[]", status, 400) for status in value]
    if key == "burst_429":
        if not isinstance(value, dict) or set(value) - {"every", "length"}:
            raise FaultConfigError('burst_429 must be an object with "every" and "length"')
        merged = dict(current["burst_429"], **value)
        return {name: _integer(f"burst_429.{name}", merged[name]) for name in ("every", "length")}
    if key == "down":
        return _one_of(key, value, DOWN_MODES)
    if key == "malformed":
        return _one_of(key, value, MALFORMED_MODES)
    if key == "malformed_status":
        return None if value is None else _integer(key, value, 100)
    if key == "bulk_fail_emails":
        if not isinstance(value, list) or not all(isinstance(email, str) for email in value):
            raise FaultConfigError("bulk_fail_emails must be a list of emails")
        return [email.lower() for email in value]
    if key == "seed":
        return None if value is None else _integer(key, value)
    raise FaultConfigError(f"unknown key: {key}")


class FaultConfig:
    """Current fault settings plus the RNG and counters that apply them. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self._values = copy.deepcopy(DEFAULTS)
            self._rng = random.Random()
            self._burst_seen = 0
            self._burst_left = 0

    def snapshot(self):
        with self._lock:
            return copy.deepcopy(self._values)

    def get(self, key):
        with self._lock:
            return copy.deepcopy(self._values[key])

    def update(self, partial):
        """Apply a partial update atomically; return the new snapshot.

        Unknown keys or bad values raise FaultConfigError and change nothing.
        Setting ``seed`` re-seeds the fault RNG; changing ``burst_429``
        restarts its request count.
        """
        if not isinstance(partial, dict):
            raise FaultConfigError("body must be a JSON object")
        unknown = sorted(set(partial) - set(DEFAULTS))
        if unknown:
            raise FaultConfigError(f"unknown key(s): {', '.join(unknown)}")
        with self._lock:
            cleaned = {key: _validated(key, value, self._values) for key, value in partial.items()}
            self._values.update(cleaned)
            if "seed" in cleaned:
                self._rng = random.Random(cleaned["seed"])
            if "burst_429" in cleaned:
                self._burst_seen = self._burst_left = 0
            return copy.deepcopy(self._values)

    def roll(self, rate_key):
        """True for a share ``self[rate_key]`` of calls (drawn from the fault RNG)."""
        with self._lock:
            rate = self._values[rate_key]
            return rate > 0 and self._rng.random() < rate

    def pick_error_status(self):
        with self._lock:
            return self._rng.choice(self._values["error_statuses"])

    def latency_seconds(self):
        with self._lock:
            jitter = self._rng.uniform(0, self._values["jitter_ms"]) if self._values["jitter_ms"] else 0
            return (self._values["latency_ms"] + jitter) / 1000

    def take_forbidden(self):
        """Whether this authenticated request is one of the ``forbidden_next`` to refuse.

        Counts the key down, so the control API shows how many are left.
        """
        with self._lock:
            if self._values["forbidden_next"] <= 0:
                return False
            self._values["forbidden_next"] -= 1
            return True

    def burst_hit(self):
        """Whether this request falls in a ``burst_429`` run.

        Counting authenticated API requests from 1 since the last change: the
        request numbered a multiple of ``every`` starts a run, and it and the
        next ``length - 1`` requests are answered 429.
        """
        with self._lock:
            every, length = self._values["burst_429"]["every"], self._values["burst_429"]["length"]
            if every <= 0 or length <= 0:
                return False
            self._burst_seen += 1
            if self._burst_left == 0 and self._burst_seen % every == 0:
                self._burst_left = length
            if self._burst_left > 0:
                self._burst_left -= 1
                return True
            return False
