"""State shared by every worker process: named locks, rate-limit slots and
small named values (the circuit breaker's state).

It lives in Redis when `CRM_SYNC["REDIS_URL"]` is set (the default when the
broker is Redis) and in the database otherwise, so the embedded demo setup
keeps the same guarantees with no server installed. `backend()` gives the
one the settings name; both offer the same five operations.
"""
import json
import time
import uuid
from functools import lru_cache

from django.db import IntegrityError, transaction

from .conf import crm_setting
from .models import Lease, RateSlot, SharedState

try:
    import redis
except ImportError:  # an optional dependency: `pip install crm_sync[redis]`
    redis = None

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


class RedisSharedState:
    """Keys under `crm_sync:`; locks expire by Redis's own TTL."""

    def __init__(self, url):
        if redis is None:
            raise ImportError("CRM_SYNC['REDIS_URL'] is set but the redis package is not installed "
                              "(pip install crm_sync[redis])")
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._reserve = self.redis.register_script(_RESERVE_LUA)
        self._release = self.redis.register_script(_RELEASE_LUA)

    def reserve_slot(self, name, interval, max_wait):
        """(seconds to wait, reserved): the next slot of the rate `name`,
        reserved only if it is at most `max_wait` seconds away."""
        wait, reserved = self._reserve(keys=[f"crm_sync:rate:{name}"], args=[interval, max_wait]).decode().split(":")
        return float(wait), reserved == "1"

    def acquire_lock(self, name, ttl):
        """A token if the lock `name` was free (or expired), else None."""
        token = uuid.uuid4().hex
        if self.redis.set(f"crm_sync:lock:{name}", token, nx=True, px=int(ttl * 1000)):
            return token
        return None

    def release_lock(self, name, token):
        """Free the lock if `token` still holds it."""
        self._release(keys=[f"crm_sync:lock:{name}"], args=[token])

    def get_state(self, name):
        raw = self.redis.get(f"crm_sync:state:{name}")
        return json.loads(raw) if raw else None

    def set_state(self, name, data):
        self.redis.set(f"crm_sync:state:{name}", json.dumps(data))


class DatabaseSharedState:
    """The same operations on three small tables. SQLite serialises the
    transactions (IMMEDIATE mode, see settings); PostgreSQL locks the row."""

    def reserve_slot(self, name, interval, max_wait):
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
        Lease.objects.filter(name=name, token=token).delete()

    def get_state(self, name):
        found = SharedState.objects.filter(name=name).values_list("data", flat=True).first()
        return found or None

    def set_state(self, name, data):
        SharedState.objects.update_or_create(name=name, defaults={"data": data})


@lru_cache(maxsize=4)
def _backend_for(redis_url):
    return RedisSharedState(redis_url) if redis_url else DatabaseSharedState()


def backend():
    """The shared-state backend the settings name: Redis, or the database."""
    return _backend_for(crm_setting("REDIS_URL"))
