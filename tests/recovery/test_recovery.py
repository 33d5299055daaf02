"""Recovery that needs no human: the sweep, orphaned attempts, poison rows,
the reconciler and the pause switch."""
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from badgemaker.badges.models import Badge
from crm_sync import outbox
from crm_sync.attempts import run_attempt
from crm_sync.models import SyncLog
from crm_sync.reconcile import reconcile
from tests.factories import BadgeFactory

pytestmark = pytest.mark.django_db


def test_a_redelivered_task_closes_the_orphaned_attempt_and_opens_the_next(fake_ac, make_user, confirm_badge):
    user = make_user()
    confirm_badge(user)
    log = SyncLog.objects.get()
    # The worker claimed it, then died mid-attempt; acks_late delivers the same message again.
    SyncLog.objects.filter(pk=log.pk).update(status="running", task_id="task-1", started_at=timezone.now())

    follow_up = run_attempt(log.pk, task_id="task-1").follow_up

    log.refresh_from_db()
    assert (log.status, log.error_category) == ("failed", "worker_lost")
    assert (follow_up.log.attempt, follow_up.log.status) == (2, "queued")
    run_attempt(follow_up.log.pk, task_id="task-2").follow_up
    follow_up.log.refresh_from_db()
    assert follow_up.log.status == "success"


def test_a_second_message_for_a_row_another_worker_is_running_is_ignored(fake_ac, make_user, confirm_badge):
    user = make_user()
    confirm_badge(user)
    log = SyncLog.objects.get()
    SyncLog.objects.filter(pk=log.pk).update(status="running", task_id="task-1", started_at=timezone.now())
    assert run_attempt(log.pk, task_id="task-from-the-sweep").follow_up is None
    log.refresh_from_db()
    assert log.status == "running"


def test_sweep_closes_attempts_running_past_the_time_limit(fake_ac, make_user, confirm_badge, captured_syncs,
                                                           settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "RUNNING_TIMEOUT": 60}
    user = make_user()
    confirm_badge(user)
    log = SyncLog.objects.get()
    SyncLog.objects.filter(pk=log.pk).update(status="running", task_id="t", lock_token="dead",
                                            started_at=timezone.now() - timezone.timedelta(seconds=120))

    closed, _ = outbox.sweep()

    log.refresh_from_db()
    assert closed == 1 and (log.status, log.error_category) == ("failed", "worker_lost")
    retry = SyncLog.objects.get(status="queued")
    assert retry.attempt == 2 and [sync.log.pk for sync in captured_syncs] == [retry.pk]


def test_a_row_that_keeps_killing_workers_stops_as_poison(fake_ac, make_user, confirm_badge, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "POISON_AFTER": 3}
    user = make_user()
    confirm_badge(user)
    log = SyncLog.objects.get()
    for n in range(3):
        SyncLog.objects.filter(pk=log.pk).update(status="running", task_id=f"t{n}", started_at=timezone.now())
        follow_up = run_attempt(log.pk, task_id=f"t{n}").follow_up
        if follow_up is None:
            break
        log = follow_up.log
    log.refresh_from_db()
    assert (log.attempt, log.status, log.error_category) == (3, "failed", "poison")
    assert not SyncLog.objects.filter(status="queued").exists()


def test_reconciler_finds_badges_confirmed_without_post_save(fake_ac, make_user, make_event, captured_syncs):
    user = make_user()
    event = make_event()
    badge = BadgeFactory(user=user, event=event, badge_name="Quiet")
    Badge.objects.filter(pk=badge.pk).update(status="confirmed", confirmed_at=timezone.now())  # no signal
    not_opted_in = make_user(crm_opt_in=False)
    BadgeFactory(user=not_opted_in, event=event, badge_name="No", confirmed=True)
    SyncLog.objects.filter(user=not_opted_in).delete()
    assert not SyncLog.objects.filter(user=user).exists()

    out = StringIO()
    call_command("crm_reconcile", stdout=out)

    assert "Queued 1 person" in out.getvalue()
    log = SyncLog.objects.get(user=user)
    assert (log.trigger, log.badge) == ("reconcile", badge)
    run_attempt(log.pk).follow_up
    assert reconcile() == 0  # synced now: nothing left to find


def test_reconciler_skips_people_with_an_attempt_pending(fake_ac, make_user, confirm_badge, captured_syncs):
    user = make_user()
    badge = confirm_badge(user)
    Badge.objects.filter(pk=badge.pk).update(confirmed_at=timezone.now() + timezone.timedelta(seconds=5))
    assert reconcile() == 0  # the signal's row is still queued


def test_pause_keeps_rows_queued_and_resume_drains_them(fake_ac, make_user, confirm_badge, captured_syncs):
    out = StringIO()
    call_command("crm_sync_status", "--pause", "AC maintenance", stdout=out)
    user = make_user()
    confirm_badge(user)
    log = SyncLog.objects.get()

    assert run_attempt(log.pk).follow_up is None
    log.refresh_from_db()
    assert log.status == "queued" and fake_ac.calls() == []
    assert outbox.sweep() == (0, 0)

    call_command("crm_sync_status", stdout=out)
    assert "PAUSED (AC maintenance)" in out.getvalue() and "1 queued" in out.getvalue()
    call_command("crm_sync_status", "--resume", stdout=out)
    assert captured_syncs.last().log.pk == log.pk
    run_attempt(log.pk).follow_up
    log.refresh_from_db()
    assert log.status == "success"


def test_status_command_says_why_the_breaker_is_open(fake_ac, make_user):
    from crm_sync.breaker import CircuitBreaker

    CircuitBreaker("https://badgemaker.api-us1.com").open("configuration", "AC refused the API key (403)")
    out = StringIO()
    call_command("crm_sync_status", stdout=out)
    assert "OPEN (configuration): AC refused the API key (403)" in out.getvalue()


def test_a_rescheduled_attempt_frees_the_person_lock(fake_ac, make_user, confirm_badge, settings):
    from crm_sync.breaker import CircuitBreaker
    from crm_sync.shared_state import backend

    CircuitBreaker("https://badgemaker.api-us1.com").open("outage", "AC down")
    user = make_user()
    confirm_badge(user)
    log = SyncLog.objects.get()
    assert run_attempt(log.pk).follow_up is not None  # rescheduled: the breaker is open
    token = backend().acquire_lock(f"person:{user.pk}", 10)
    assert token, "the lock was left held"


@pytest.mark.django_db(transaction=True)  # the task closes the broken connection, as in a worker
def test_an_attempt_cut_short_by_the_database_goes_back_to_the_queue(fake_ac, make_user, confirm_badge):
    from django.db import OperationalError

    from crm_sync.tasks import sync_person

    user = make_user()
    confirm_badge(user)
    log = SyncLog.objects.get()

    def database_goes_away(log_id, task_id=""):
        SyncLog.objects.filter(pk=log_id).update(status="running", task_id=task_id)
        raise OperationalError("server closed the connection unexpectedly")

    with mock.patch("crm_sync.tasks.run_attempt", database_goes_away), \
            mock.patch.object(sync_person, "retry", side_effect=RuntimeError("retried")) as retry:
        sync_person.push_request(id="task-9")
        try:
            with pytest.raises(RuntimeError, match="retried"):
                sync_person.run(log.pk)
        finally:
            sync_person.pop_request()

    log.refresh_from_db()
    assert (log.status, log.attempt, log.task_id) == ("queued", 1, "")  # no attempt spent, no worker_lost
    assert retry.call_args.kwargs["countdown"] > 0
    run_attempt(log.pk, task_id="task-9").follow_up  # the same message, delivered again
    log.refresh_from_db()
    assert log.status == "success"
