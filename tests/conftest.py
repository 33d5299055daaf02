"""Fixtures every part of the suite shares: people, events and badges (built
by tests/factories.py), crm_sync pointed at the fake AC (unit tests) or at the
AC sandbox over sockets (integration tests), the test seam that keeps the
broker out, and a real worker process for end-to-end tests."""
import os

import pytest
import responses
from django.utils import timezone

from crm_sync.testing import capture_syncs
from tests.factories import BadgeFactory, EventFactory, UserFactory
from tests.fake_ac import AC_URL, API_KEY, FakeAC
from tests.processes import E2E_ENV, Worker, purge_broker, worker_env


# -- crm_sync's settings ------------------------------------------------------------
@pytest.fixture
def ac_settings(settings):
    """crm_sync pointed at the fake AC account, with the database as coordination backend."""
    settings.ACTIVECAMPAIGN_URL = AC_URL
    settings.ACTIVECAMPAIGN_API_KEY = API_KEY
    settings.CRM_SYNC = {
        **settings.CRM_SYNC,
        "REDIS_URL": "",
        "RATE_LIMIT_PER_SECOND": 1000.0,
        "PUBLIC_BASE_URL": "https://badges.example.org",
        "PHONE_REGION": "GB",
        "RETRY_AFTER_MAX_WAIT": 1.0,
    }
    return settings


@pytest.fixture
def fake_ac(ac_settings):
    """The fake AC (tests/fake_ac.py) answering crm_sync's requests at the HTTP boundary."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeAC(rsps)


@pytest.fixture
def sandbox_settings(settings, ac_sandbox):
    """crm_sync talks to the AC sandbox over real sockets, coordinating through
    the database, with no rate limit in the way (these tests are not about it)."""
    ac_sandbox.control.set_faults(rate_limit_per_second=100_000)
    settings.ACTIVECAMPAIGN_URL = ac_sandbox.url
    settings.ACTIVECAMPAIGN_API_KEY = ac_sandbox.api_key
    settings.CRM_SYNC = {
        **settings.CRM_SYNC,
        "REDIS_URL": "",
        "RATE_LIMIT_PER_SECOND": 100_000.0,
        "PUBLIC_BASE_URL": "https://badges.example.org",
        "PHONE_REGION": "GB",
        "BREAKER_FAILURES": 1_000_000,  # 422s and faults here must not open the breaker for the next example
    }
    return ac_sandbox


# -- the test seam ------------------------------------------------------------------
@pytest.fixture
def captured_syncs():
    """No broker: the syncs queued during the test are captured instead
    (crm_sync.testing.capture_syncs), each with the plan of what it would send."""
    with capture_syncs() as syncs:
        yield syncs


# -- people, events and badges ------------------------------------------------------
@pytest.fixture
def make_user(db):
    """tests.factories.UserFactory: `make_user(email=..., crm_opt_in=False, ...)`."""
    return UserFactory


@pytest.fixture
def make_event(db):
    """tests.factories.EventFactory: PyCon 2026 unless told otherwise."""
    return EventFactory


@pytest.fixture
def confirm_badge(db):
    """Confirm `user`'s badge for `event` (default PyCon 2026) the way the
    confirmation view does, which queues a sync; `fields` set the badge's
    values, `confirmed_at` when it was confirmed."""

    def confirm(user, event=None, **fields):
        return BadgeFactory(user=user, event=event or EventFactory(), confirmed=True, **fields)

    return confirm


@pytest.fixture
def now():
    return timezone.now()


# -- a real worker --------------------------------------------------------------------
@pytest.fixture
def worker_settings():
    """Extra environment for the worker; a test module overrides this fixture to change it."""
    return {}


@pytest.fixture
def worker(ac_sandbox, transactional_db, tmp_path, settings, worker_settings):
    """A `celery worker` process (two pool processes) with beat, on whatever
    database and broker the environment names, syncing to the AC sandbox over
    sockets; started after the test database exists."""
    settings.ACTIVECAMPAIGN_URL = ac_sandbox.url
    settings.ACTIVECAMPAIGN_API_KEY = ac_sandbox.api_key
    purge_broker()
    env = worker_env(ac_sandbox, **{**E2E_ENV, **worker_settings})
    process = Worker(tmp_path, env, concurrency=2, beat=True).start()
    yield process
    process.stop()
    if os.environ.get("CRM_SYNC_SHOW_WORKER_LOG"):
        print(process.output())
