"""State shared by every worker process: per-person locks and the
account-wide rate limit.

It lives in Redis when `CRM_SYNC["REDIS_URL"]` is set (the default when the
broker is Redis) and in the database otherwise, so the embedded demo setup
keeps the same guarantees with no server installed.
"""
import json
import logging
import time
import uuid
from functools import lru_cache

from django.db import IntegrityError, transaction

from .conf import crm_setting

logger = logging.getLogger("crm_sync")

# Reserve the next request slot: returns "<seconds to wait>:<1 if reserved>".
# Redis's own clock is used so that workers on several hosts agree.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local wait = slot - now
if wait > tonumber(ARGV[2]) then return tostring(wait) .. ':0' end
redis.call('SET', KEYS[1], tostring(slot + tonumber(ARGV[1])), 'PX', 60000)
return tostring(wait) .. ':1'
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCoordination:
    def __init__(self, url):
        import redis

        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._reserve = self.redis.register_script(_RESERVE_LUA)
        self._release = self.redis.register_script(_RELEASE_LUA)

    def reserve_slot(self, name, interval, max_wait):
        wait, reserved = self._reserve(keys=[f"crm_sync:rate:{name}"], args=[interval, max_wait]).decode().split(":")
        return float(wait), reserved == "1"

    def acquire_lock(self, name, ttl):
        token = uuid.uuid4().hex
        if self.redis.set(f"crm_sync:lock:{name}", token, nx=True, px=int(ttl * 1000)):
            return token
        return None

    def release_lock(self, name, token):
        self._release(keys=[f"crm_sync:lock:{name}"], args=[token])

    def get_state(self, name):
        raw = self.redis.get(f"crm_sync:state:{name}")
        return json.loads(raw) if raw else None

    def set_state(self, name, data):
        self.redis.set(f"crm_sync:state:{name}", json.dumps(data))


class DatabaseCoordination:
    """The same operations on two small tables. SQLite serialises the
    transactions (IMMEDIATE mode, see settings); PostgreSQL locks the row."""

    def reserve_slot(self, name, interval, max_wait):
        from .models import RateSlot

        for _ in range(3):
            try:
                with transaction.atomic():
                    slot, _ = RateSlot.objects.select_for_update().get_or_create(name=name)
                    now = time.time()
                    start = max(slot.next_at, now)
                    wait = start - now
                    if wait > max_wait:
                        return wait, False
                    slot.next_at = start + interval
                    slot.save(update_fields=["next_at"])
                    return wait, True
            except IntegrityError:  # two processes created the row at once
                continue
        raise RuntimeError(f"could not reserve a rate slot for {name}")

    def acquire_lock(self, name, ttl):
        from .models import Lease

        token = uuid.uuid4().hex
        now = time.time()
        try:
            with transaction.atomic():
                taken = Lease.objects.filter(name=name, expires_at__lt=now).update(token=token, expires_at=now + ttl)
                if not taken:
                    Lease.objects.create(name=name, token=token, expires_at=now + ttl)
            return token
        except IntegrityError:  # someone holds an unexpired lease
            return None

    def release_lock(self, name, token):
        from .models import Lease

        Lease.objects.filter(name=name, token=token).delete()

    def get_state(self, name):
        from .models import SharedState

        found = SharedState.objects.filter(name=name).values_list("data", flat=True).first()
        return found or None

    def set_state(self, name, data):
        from .models import SharedState

        SharedState.objects.update_or_create(name=name, defaults={"data": data})


_last_logged = {}


def log_event(event, once_per=0, **fields):
    """A structured warning for operators: `crm_sync event={...json...}`.
    `once_per` seconds keeps a noisy event (a saturated limiter) to one line."""
    now = time.monotonic()
    if once_per and now - _last_logged.get(event, -once_per) < once_per:
        return
    _last_logged[event] = now
    logger.warning("crm_sync %s", json.dumps({"event": event, **fields}, default=str))


@lru_cache(maxsize=4)
def _coordination_for(redis_url):
    return RedisCoordination(redis_url) if redis_url else DatabaseCoordination()


def coordination():
    """The coordination backend the settings name."""
    return _coordination_for(crm_setting("REDIS_URL"))


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
    while sustaining close to the full rate.
    """

    def __init__(self, account_url):
        self.name = account_url
        self.interval = 1.05 / crm_setting("RATE_LIMIT_PER_SECOND")
        self.max_wait = crm_setting("RATE_LIMIT_MAX_WAIT")

    def wait_for_slot(self):
        wait, reserved = coordination().reserve_slot(self.name, self.interval, self.max_wait)
        if not reserved:
            log_event("limiter_saturated", wait_seconds=round(wait, 2), once_per=30)
            raise RateLimitWait(wait)
        if wait > 0:
            time.sleep(wait)
