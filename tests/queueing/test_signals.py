"""When a sync is queued: the receiver writes a row and dispatches it on commit, nothing more.

The tests whose subject is the publish to Celery mock `apply_async`; the
others keep the broker out with the test seam (`captured_syncs`)."""
import threading
from unittest import mock

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from crm_sync import outbox
from crm_sync.models import SyncLog
from tests.factories import BadgeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def broker_up():
    outbox.publisher.down_until = 0.0
    yield
    outbox.publisher.down_until = 0.0


@pytest.fixture
def publish():
    with mock.patch("crm_sync.tasks.sync_person.apply_async") as apply_async:
        yield apply_async


@pytest.mark.django_db(transaction=True)  # the relay thread marks the row dispatched: it must see it
def test_confirming_a_badge_queues_one_attempt_dispatched_on_commit(make_user, confirm_badge, publish):
    user = make_user()
    with transaction.atomic():  # as the confirmation view saves
        badge = confirm_badge(user)
        log = SyncLog.objects.get()
        assert not publish.called  # nothing leaves before the transaction commits
    assert outbox.publisher.flush()  # published from the relay thread

    assert (log.status, log.trigger, log.attempt, log.user, log.badge) == ("queued", "signal", 1, user, badge)
    publish.assert_called_once()
    args, kwargs = publish.call_args
    assert args == ((log.pk,),)  # ids only: no personal data in the broker or task results
    assert kwargs["retry"] is False
    log.refresh_from_db()
    assert log.dispatched_at is not None


def test_draft_badge_queues_nothing(make_user, make_event, captured_syncs):
    BadgeFactory(user=make_user(), event=make_event(), badge_name="Draft")
    assert not SyncLog.objects.exists()


def test_profile_change_of_a_person_with_a_confirmed_badge_queues_a_sync(make_user, confirm_badge, captured_syncs):
    user = make_user()
    badge = confirm_badge(user)
    SyncLog.objects.all().delete()
    user.crm_opt_in = False
    user.save()
    log = SyncLog.objects.get()
    assert (log.user, log.badge) == (user, badge)


def test_person_without_confirmed_badge_or_login_only_queues_nothing(make_user, confirm_badge, captured_syncs):
    user = make_user()
    user.first_name = "Changed"
    user.save()
    assert not SyncLog.objects.exists()
    confirm_badge(user)
    SyncLog.objects.all().delete()
    user.save(update_fields=["last_login"])
    assert not SyncLog.objects.exists()


@pytest.mark.parametrize("error", [OperationalError("connection refused"), ConnectionRefusedError(111, "refused")])
@pytest.mark.django_db(transaction=True)
def test_broker_down_leaves_the_row_queued_and_never_raises(make_user, confirm_badge, publish, error,
                                                           django_capture_on_commit_callbacks):
    publish.side_effect = error
    with django_capture_on_commit_callbacks(execute=True):
        confirm_badge(make_user())
        confirm_badge(make_user())
    assert outbox.publisher.flush()
    assert list(SyncLog.objects.values_list("status", flat=True)) == ["queued", "queued"]
    # After the first failure, publishing is skipped for a few seconds instead of waiting on the broker again.
    assert publish.call_count == 1


def test_sweep_dispatches_rows_stranded_in_the_queue(make_user, confirm_badge, publish, settings, now):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "QUEUED_SWEEP_AFTER": 60}
    confirm_badge(make_user())
    stranded = SyncLog.objects.get()
    SyncLog.objects.filter(pk=stranded.pk).update(created_at=now - outbox.timezone.timedelta(seconds=120))
    confirm_badge(make_user())  # fresh: left alone

    assert outbox.dispatch_stranded() == 1
    assert publish.call_args.args == ((stranded.pk,),)
    stranded.refresh_from_db()
    assert stranded.dispatched_at is not None
    assert outbox.dispatch_stranded() == 0  # not sent again until another sweep interval passes


@pytest.mark.django_db(transaction=True)
def test_the_confirming_request_never_waits_for_the_broker(make_user, confirm_badge, publish):
    """A broker that accepts the connection and never answers: the commit
    returns while the relay thread is still publishing, and the row is
    marked dispatched once the broker takes it."""
    broker_answers = threading.Event()
    publish.side_effect = lambda *args, **kwargs: broker_answers.wait(10)
    confirm_badge(make_user())  # autocommit: the on-commit hand-off has run
    log = SyncLog.objects.get()
    assert (log.status, log.dispatched_at) == ("queued", None)  # the publish is still hanging
    assert not outbox.publisher.flush(timeout=0.2)

    broker_answers.set()
    assert outbox.publisher.flush()
    log.refresh_from_db()
    publish.assert_called_once()
    assert log.dispatched_at is not None


@pytest.mark.django_db(transaction=True)  # the commit and its on-commit hand-off run, as in a request
def test_confirming_costs_the_request_one_insert_and_nothing_else(make_user, make_event, publish):
    """Against the same save with crm_sync's receivers disconnected: one
    query more, the outbox row's INSERT (no load of the person, no UPDATE,
    no broker round trip on this thread)."""
    from django.db import connection
    from django.db.models.signals import post_save
    from django.test.utils import CaptureQueriesContext

    from badgemaker.badges.models import Badge
    from crm_sync import signals

    def confirming_save(user):
        badge = Badge.objects.select_related("event").get(pk=BadgeFactory(user=user, event=event).pk)
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            badge.confirm()
            badge.save()
        return [query["sql"] for query in queries.captured_queries]

    event = make_event()
    post_save.disconnect(sender=Badge, dispatch_uid="crm_sync_record_saved")
    try:
        without = confirming_save(make_user())
    finally:
        signals.connect()
    with_crm_sync = confirming_save(make_user())

    assert len(with_crm_sync) == len(without) + 1, with_crm_sync
    crm_sync_queries = [sql for sql in with_crm_sync if "crm_sync" in sql]
    assert len(crm_sync_queries) == 1 and crm_sync_queries[0].startswith('INSERT INTO "crm_sync_synclog"')
    assert outbox.publisher.flush()
    publish.assert_called_once()
