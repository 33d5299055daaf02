"""Each alert rule's condition, on and off, against rows as the sync leaves them."""
from datetime import timedelta

import pytest
from django.utils import timezone

from crm_sync import alerts
from crm_sync.breaker import CircuitBreaker
from crm_sync.conf import ac_account
from crm_sync.models import ImportBatch, SyncLog
from crm_sync.shared_state import backend
from tests.factories import SyncLogFactory, UserFactory

pytestmark = pytest.mark.django_db


def first_attempts(ok, failed, ago=timedelta(minutes=10)):
    for _ in range(ok):
        SyncLogFactory(attempt=1, status=SyncLog.Status.SUCCESS, ago=ago)
    for _ in range(failed):
        SyncLogFactory(attempt=1, status=SyncLog.Status.FAILED, error_category="validation", ago=ago)


# -- the first-pass success rate ----------------------------------------------------
def test_first_pass_rate_under_99_percent_of_at_least_20_attempts_is_on(now):
    first_attempts(ok=19, failed=1)
    finding = alerts.first_pass_rate(now)
    assert finding is not None and "95.0%" in finding.message and "19 of 20" in finding.message


def test_first_pass_rate_counts_skipped_as_success_and_ignores_retries(now):
    first_attempts(ok=15, failed=0)
    for _ in range(5):
        SyncLogFactory(attempt=1, status=SyncLog.Status.SKIPPED)
    for _ in range(10):
        SyncLogFactory(attempt=2, status=SyncLog.Status.FAILED, error_category="network")
    assert alerts.first_pass_rate(now) is None


def test_first_pass_rate_leaves_a_resync_out(now):
    """A resync's failed batch has its own alert; the rate is the badges' first pass."""
    first_attempts(ok=20, failed=0)
    for _ in range(11):
        SyncLogFactory(attempt=1, trigger=SyncLog.Trigger.RESYNC, status=SyncLog.Status.FAILED,
                       error_category="import_failed")
    assert alerts.first_pass_rate(now) is None


def test_first_pass_rate_is_off_below_the_minimum_number_of_attempts(now, settings):
    first_attempts(ok=10, failed=9)
    assert alerts.first_pass_rate(now) is None
    settings.CRM_SYNC = {**settings.CRM_SYNC, "ALERT_MIN_ATTEMPTS": 5}
    assert alerts.first_pass_rate(now) is not None


def test_first_pass_rate_looks_at_the_last_hour_only(now):
    first_attempts(ok=0, failed=30, ago=timedelta(hours=2))
    first_attempts(ok=20, failed=0)
    assert alerts.first_pass_rate(now) is None


# -- the oldest queued row ----------------------------------------------------------
def test_a_row_queued_over_10_minutes_is_on(now):
    row = SyncLogFactory(status=SyncLog.Status.QUEUED, ago=timedelta(minutes=11))
    SyncLogFactory(status=SyncLog.Status.QUEUED, ago=timedelta(seconds=5))
    finding = alerts.queued_too_long(now)
    assert finding is not None and f"SyncLog row {row.pk}" in finding.message and "2 queued" in finding.message


def test_rows_queued_under_10_minutes_or_finished_are_off(now):
    SyncLogFactory(status=SyncLog.Status.QUEUED, ago=timedelta(minutes=9))
    SyncLogFactory(status=SyncLog.Status.SUCCESS, ago=timedelta(hours=1))
    assert alerts.queued_too_long(now) is None


# -- the circuit breaker ------------------------------------------------------------
def open_breaker(reason, open_for, message="AC server error 503"):
    breaker = CircuitBreaker(ac_account()[0])
    breaker.open(reason, message)
    backend().set_state(breaker.name, {**breaker.state(), "since": timezone.now().timestamp() - open_for})


def test_the_breaker_open_for_an_outage_longer_than_5_minutes_is_on(ac_settings, now):
    open_breaker("outage", open_for=301)
    finding = alerts.breaker_open(now)
    assert finding is not None and "AC is not answering" in finding.message and "AC server error 503" in finding.message


def test_the_breaker_open_for_an_outage_under_5_minutes_is_off(ac_settings, now):
    open_breaker("outage", open_for=60)
    assert alerts.breaker_open(now) is None


def test_a_refused_key_is_on_at_once(ac_settings, now):
    open_breaker("configuration", open_for=0, message="AC refused the API key (403)")
    finding = alerts.breaker_open(now)
    assert finding is not None and finding.detail["reason"] == "configuration"
    assert "AC refused the API key" in finding.message


def test_a_closed_breaker_is_off(ac_settings, now):
    open_breaker("configuration", open_for=600)
    CircuitBreaker(ac_account()[0]).record_success()
    assert alerts.breaker_open(now) is None


# -- retries exhausted --------------------------------------------------------------
def gave_up(user=None, category="network", attempt=15, ago=timedelta(minutes=5)):
    return SyncLogFactory(user=user, attempt=attempt, status=SyncLog.Status.FAILED, error_category=category, ago=ago)


def test_a_sync_failed_at_max_attempts_with_a_retried_error_is_on(now):
    row = gave_up()
    finding = alerts.retries_exhausted(now)
    assert finding is not None and str(row.pk) in finding.message and finding.detail["categories"] == {"network": 1}


def test_a_poisoned_sync_is_on_whatever_its_attempt(now):
    gave_up(category="poison", attempt=5)
    assert alerts.retries_exhausted(now).detail["categories"] == {"poison": 1}


def test_failures_that_will_be_retried_or_are_never_retried_are_off(now):
    gave_up(attempt=14)  # the next attempt is queued
    gave_up(category="validation")  # a person must fix the data: that is not a retry giving up
    assert alerts.retries_exhausted(now) is None


def test_it_ends_when_the_person_synced_since_or_after_the_window(now):
    person = UserFactory()
    gave_up(user=person)
    gave_up(ago=timedelta(hours=2))
    assert alerts.retries_exhausted(now) is not None
    SyncLogFactory(user=person, attempt=1, status=SyncLog.Status.SUCCESS, ago=timedelta(minutes=1))
    assert alerts.retries_exhausted(now) is None


# -- bulk batches -------------------------------------------------------------------
def batch(status, ago):
    at = timezone.now() - ago
    return ImportBatch.objects.create(batch_id=f"b{ImportBatch.objects.count() + 1}", account_url="https://a",
                                      lane=ImportBatch.Lane.RESYNC, size=120, status=status, queued_at=at,
                                      completed_at=at, error="AC's importer gave up")


def test_a_failed_batch_in_the_last_hour_is_on(now):
    failed = batch(ImportBatch.Status.FAILED, timedelta(minutes=5))
    finding = alerts.bulk_batch_failed(now)
    assert finding is not None and failed.batch_id in finding.message and "120 people" in finding.message


def test_completed_batches_and_old_failures_are_off(now):
    batch(ImportBatch.Status.COMPLETED, timedelta(minutes=5))
    batch(ImportBatch.Status.FAILED, timedelta(hours=2))
    assert alerts.bulk_batch_failed(now) is None
