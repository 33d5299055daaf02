"""The pull's low-priority share of the account's rate (limiter.ShareLimiter):
its requests are spaced at PULL_RATE_SHARE of RATE_LIMIT_PER_SECOND, each
one also takes its turn on the account-wide rate, so a live sync is never
queued behind more than one of them, and a pull that would wait too long
stops without holding the account's slots. On a simulated clock, through the
database's shared state."""
from types import SimpleNamespace

import pytest

from crm_sync import limiter as limiter_module, shared_state
from crm_sync.limiter import AccountRateLimiter, RateLimitWait, ShareLimiter
from tests.fake_ac import AC_URL

pytestmark = pytest.mark.django_db
RATE = 5.0
ACCOUNT_INTERVAL = 1.05 / RATE          # the limiter's spacing, with its 5% margin
PULL_INTERVAL = ACCOUNT_INTERVAL / 0.2  # at a share of 0.2


class Clock:
    """Time as the limiters and the shared state read it; sleeping moves it on."""

    def __init__(self):
        self.now = 1_000_000.0
        self.slept = []

    def read(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch, ac_settings):
    ac_settings.CRM_SYNC = {**ac_settings.CRM_SYNC, "RATE_LIMIT_PER_SECOND": RATE, "RATE_LIMIT_MAX_WAIT": 10.0}
    made = Clock()
    fake_time = SimpleNamespace(time=made.read, monotonic=made.read, sleep=made.sleep)
    monkeypatch.setattr(shared_state, "time", fake_time)
    monkeypatch.setattr(limiter_module, "time", fake_time)
    return made


def pull_limiter(clock, patience=30.0):
    return ShareLimiter(AccountRateLimiter(AC_URL), 0.2, patience=patience, sleep=clock.sleep)


def test_the_pulls_requests_are_spaced_at_its_share_of_the_accounts_rate(clock):
    limiter = pull_limiter(clock)
    sent = []
    for _ in range(5):
        limiter.wait_for_slot()
        sent.append(clock.now)

    gaps = [later - earlier for earlier, later in zip(sent, sent[1:])]
    assert gaps == pytest.approx([PULL_INTERVAL] * 4)


def test_a_live_sync_waits_at_most_one_account_slot_behind_the_pull(clock):
    pull, live = pull_limiter(clock), AccountRateLimiter(AC_URL)
    live_waits = []
    for _ in range(5):
        pull.wait_for_slot()
        before = clock.now
        live.wait_for_slot()
        live_waits.append(clock.now - before)

    assert max(live_waits) <= ACCOUNT_INTERVAL + 1e-9


def test_a_pull_that_would_wait_too_long_stops_and_leaves_the_accounts_slots_to_the_live_syncs(clock):
    live = AccountRateLimiter(AC_URL)
    for _ in range(20):               # a backlog books the account four seconds ahead
        shared_state.backend().reserve_slot(live.name, live.interval, 60.0)

    with pytest.raises(RateLimitWait):
        pull_limiter(clock, patience=2.0).wait_for_slot()

    # The next live request gets the slot right after the backlog: the pull took none.
    wait, reserved = shared_state.backend().reserve_slot(live.name, live.interval, 60.0)
    assert reserved and wait == pytest.approx(20 * ACCOUNT_INTERVAL)
