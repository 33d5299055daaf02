"""Every test here runs twice: with the shared state in the database, and in
Redis (redis://127.0.0.1:6379/15, emptied around each test). Without a Redis
server the Redis half is skipped, except in CI (`CI=true`), where it fails."""
import os

import pytest

try:
    import redis
except ImportError:  # crm_sync's optional extra
    redis = None

# Two CI passes run these side by side: each names its own database.
REDIS_URL = os.environ.get("CRM_SYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_or_skip():
    """A client for the test database in Redis, or a skip (a failure in CI) saying why not."""
    if redis is None:
        reason = "the redis package is not installed"
    else:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        try:
            client.ping()
            return client
        except (redis.ConnectionError, redis.TimeoutError) as error:
            reason = f"Redis at {REDIS_URL} is unreachable ({error})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the Redis half of tests/shared_state")
    pytest.skip(f"{reason}; CI runs these")


@pytest.fixture(params=["database", "redis"])
def shared_state(request, db, settings):
    """Which backend `crm_sync.shared_state.backend()` gives for this test."""
    if request.param == "database":
        settings.CRM_SYNC = {**settings.CRM_SYNC, "REDIS_URL": ""}
        yield request.param
        return
    client = redis_or_skip()
    client.flushdb()
    settings.CRM_SYNC = {**settings.CRM_SYNC, "REDIS_URL": REDIS_URL}
    yield request.param
    client.flushdb()
    client.close()
