"""Named locks every worker respects, in the shared state (Redis or the
database). The sync holds one per person, so that two attempts for the same
person never interleave their requests to AC."""
import time
from contextlib import contextmanager

from .conf import crm_setting
from .shared_state import backend


# How long work that found the person's lock taken waits before trying again.
PERSON_BUSY_WAIT = 2.0


class PersonBusy(Exception):
    """Another sync of the same person holds the lock."""


def person_lock(user_id):
    """The name of a person's lock."""
    return f"person:{user_id}"


def lock_person(user_id):
    """Take the person's lock, waiting up to `PERSON_LOCK_WAIT` seconds for
    another sync of them to finish. Returns the token that releases it; the
    lock expires by itself after `PERSON_LOCK_TTL` seconds. Raises PersonBusy."""
    name = person_lock(user_id)
    deadline = time.monotonic() + crm_setting("PERSON_LOCK_WAIT")
    while True:
        token = backend().acquire_lock(name, crm_setting("PERSON_LOCK_TTL"))
        if token:
            return token
        if time.monotonic() > deadline:
            raise PersonBusy(name)
        time.sleep(0.1)


def release_person(user_id, token):
    """Free the person's lock, if `token` still holds it."""
    backend().release_lock(person_lock(user_id), token)


@contextmanager
def holding_person(user_id):
    """The person's lock for the block: raises PersonBusy (before the block
    runs) if another piece of work on them holds it past PERSON_LOCK_WAIT."""
    token = lock_person(user_id)
    try:
        yield token
    finally:
        release_person(user_id, token)
