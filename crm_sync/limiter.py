"""The account-wide rate limit: at most `RATE_LIMIT_PER_SECOND` requests a
second to one AC account, counted across every worker process through the
shared state (Redis or the database)."""
import time
from dataclasses import dataclass

from .conf import crm_setting
from .events import log_event
from .metrics import record_limiter_wait
from .shared_state import backend


class RateLimitWait(Exception):
    """The account's rate budget is used up for longer than an attempt should
    wait. Not a failure: the caller reschedules without spending an attempt."""

    def __init__(self, wait):
        super().__init__(f"rate limiter: next free slot in {wait:.1f}s")
        self.wait = wait


class AccountRateLimiter:
    """At most `RATE_LIMIT_PER_SECOND` requests per second for the whole AC
    account, counted across every worker process.

    Requests are spaced evenly (a slot every 1/rate seconds, plus a 5% margin
    for network jitter), which keeps any sliding second at or under the limit
    while sustaining close to the full rate. A slot further away than
    `RATE_LIMIT_MAX_WAIT` raises RateLimitWait.
    """

    def __init__(self, account_url):
        self.name = account_url
        self.interval = 1.05 / crm_setting("RATE_LIMIT_PER_SECOND")
        self.max_wait = crm_setting("RATE_LIMIT_MAX_WAIT")

    def wait_for_slot(self):
        wait, reserved = backend().reserve_slot(self.name, self.interval, self.max_wait)
        record_limiter_wait(wait, reserved)
        if not reserved:
            log_event("limiter_saturated", wait_seconds=round(wait, 2), once_per=30)
            raise RateLimitWait(wait)
        if wait > 0:
            time.sleep(wait)


class PatientLimiter:
    """The account-wide limiter shared with the workers, waiting as long as
    it takes: a command can wait where a worker would reschedule."""

    def __init__(self, limiter, sleep=time.sleep):
        self.limiter = limiter
        self.sleep = sleep

    def wait_for_slot(self):
        while True:
            try:
                return self.limiter.wait_for_slot()
            except RateLimitWait as wait:
                self.sleep(min(wait.wait, 1.0))


@dataclass(frozen=True)
class Share:
    """What a background job may take of the account's rate: `fraction` of
    it, counted under `job`'s name, waiting at most `patience` seconds for a
    slot (ShareLimiter)."""
    job: str
    fraction: float
    patience: float


class ShareLimiter:
    """A background job's share of the account's rate (the consent pull,
    pull.py; the burst's imports and polls, burst.py): at most `share` ×
    RATE_LIMIT_PER_SECOND requests a second, counted on a rate of its own
    (`job`'s), and each one also takes its turn on the account-wide rate
    like any other request.

    The live syncs therefore keep at least (1 − share) of the account's
    rate whatever the job does, and the job still gets its share when
    they keep the account busy. A slot more than `patience` seconds away
    raises RateLimitWait: the job stops and its next run carries on."""

    def __init__(self, limiter, share, *, patience, job="share", sleep=time.sleep):
        self.limiter = limiter
        self.name = f"{limiter.name} {job}"
        self.interval = limiter.interval / share
        self.patience = patience
        self.sleep = sleep

    def wait_for_slot(self):
        deadline = time.monotonic() + self.patience
        self._take(self.name, self.interval, deadline)
        self._take(self.limiter.name, self.limiter.interval, deadline)

    def _take(self, name, interval, deadline):
        wait, reserved = backend().reserve_slot(name, interval, max(deadline - time.monotonic(), 0.0))
        if not reserved:
            raise RateLimitWait(wait)
        if wait > 0:
            self.sleep(wait)
