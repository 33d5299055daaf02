"""Named locks: one holder at a time, freed only by its holder, taken over
once they expire; a sync waits a while for a person's lock, then gives up."""
import time

import pytest

from crm_sync.locks import PersonBusy, lock_person, person_lock, release_person
from crm_sync.shared_state import backend

pytestmark = pytest.mark.usefixtures("shared_state")


def test_two_holders_cannot_hold_one_lock():
    first = backend().acquire_lock("person:1", 10)
    assert first
    assert backend().acquire_lock("person:1", 10) is None
    assert backend().acquire_lock("person:2", 10), "another person's lock is another lock"


def test_only_the_holders_token_frees_a_lock():
    token = backend().acquire_lock("person:1", 10)
    backend().release_lock("person:1", "someone-elses-token")
    assert backend().acquire_lock("person:1", 10) is None
    backend().release_lock("person:1", token)
    assert backend().acquire_lock("person:1", 10)


def test_an_expired_lock_can_be_taken_and_its_old_holder_cannot_free_it():
    stale = backend().acquire_lock("person:1", 0.2)  # its worker died
    time.sleep(0.35)
    fresh = backend().acquire_lock("person:1", 10)
    assert fresh and fresh != stale
    backend().release_lock("person:1", stale)  # the old worker wakes up and "releases"
    assert backend().acquire_lock("person:1", 10) is None, "the new holder lost its lock"


def test_a_sync_waits_for_the_persons_lock_then_gives_up(settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PERSON_LOCK_WAIT": 0.3}
    token = lock_person(7)
    started = time.monotonic()
    with pytest.raises(PersonBusy):
        lock_person(7)
    assert time.monotonic() - started >= 0.3
    assert lock_person(8), "another person is not held up"
    release_person(7, token)
    assert lock_person(7)


def test_a_sync_takes_the_lock_once_a_dead_holders_lease_runs_out(settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PERSON_LOCK_WAIT": 5.0}
    backend().acquire_lock(person_lock(7), 0.3)
    started = time.monotonic()
    assert lock_person(7)
    assert 0.2 <= time.monotonic() - started < 3.0


def test_a_persons_lock_lasts_person_lock_ttl(settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "PERSON_LOCK_TTL": 0.2, "PERSON_LOCK_WAIT": 0.0}
    lock_person(7)
    with pytest.raises(PersonBusy):
        lock_person(7)
    time.sleep(0.35)
    assert lock_person(7)
