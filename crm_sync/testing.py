"""The test seam for host projects, in the spirit of django-anymail's test
backend: a host's own tests can check what crm_sync would send without a
broker, a worker or sockets.

    from crm_sync.testing import capture_syncs

    def test_confirming_sends_the_badge_name(badge):
        with capture_syncs() as syncs:
            badge.confirm()
            badge.save()
        sent = syncs.last(email="ada@example.com")
        assert sent.plan.payload.fields["BADGE_NAME"] == "Ada"
        assert "event:pycon" in sent.plan.payload.tags

Under `capture_syncs()` each sync that would be handed to Celery (when its
transaction commits) is planned at once, from the database as it is then,
and recorded; nothing is sent and the SyncLog row stays `queued`.

Under `run_syncs_eagerly()` each one runs the real attempt in this process,
against whatever CRM the settings name: with the `ac_sandbox` pytest fixture
(crm_sync.sandbox.pytest_plugin), an in-process sandbox over loopback.

Either way, a sync queued in the block whose transaction has not committed
when the block ends is handed over then, once: a test that runs inside a
transaction (pytest-django's `db`, Django's `TestCase`) never commits it.
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction

from . import outbox
from .attempts import row_email, run_attempt
from .conf import ac_account
from .models import ContactState, SyncLog
from .sync import plan


@dataclass
class CapturedSync:
    """One sync that would have gone to a worker."""

    log: SyncLog
    plan: object  # sync.Plan: what would be sent, or why nothing

    @property
    def email(self):
        return self.log.email


class CapturedSyncs(list):
    def for_email(self, email):
        return [sync for sync in self if sync.email == email.strip().lower()]

    def last(self, email=None):
        """The latest sync captured (of one email address), or None."""
        found = self.for_email(email) if email else self
        return found[-1] if found else None


@contextmanager
def capture_syncs():
    """Capture the syncs queued inside the block instead of dispatching them."""
    captured = CapturedSyncs()

    def capture(log_id, countdown=None):
        log = SyncLog.objects.select_related("user").filter(pk=log_id).first()
        if log is None:  # deleted before it was handed over: nothing would run
            return True
        if not log.email and log.user:  # queued by key alone: the relay would fill it in
            log.email = row_email(log.user)
        state = ContactState.objects.filter(user=log.user, account_url=ac_account()[0]).first() if log.user else None
        captured.append(CapturedSync(log=log, plan=plan(log.user, state)))
        return True

    with _handing_over(capture):
        yield captured


@contextmanager
def run_syncs_eagerly(max_wait=5.0):
    """Run each sync queued inside the block at once, in this process.
    Follow-up attempts due within `max_wait` seconds (a rate-limit wait, a
    retry) run too; later ones stay queued. Yields the SyncLog rows run."""
    ran = []

    def run(log_id, countdown=None):
        if countdown and countdown > max_wait:
            return True
        if countdown:
            time.sleep(countdown)
        follow_up = run_attempt(log_id).follow_up
        log = SyncLog.objects.filter(pk=log_id).first()
        if log is not None:
            ran.append(log)
        if follow_up is not None:
            run(follow_up.log.pk, follow_up.countdown)
        return True

    with _handing_over(run):
        yield ran


def _waiting_for_commit(connection):
    """The outbox's dispatches (outbox.queue_sync) still waiting for their transaction to commit."""
    return [entry for entry in connection.run_on_commit if getattr(entry[1], "__module__", None) == outbox.__name__]


@contextmanager
def _handing_over(run):
    """outbox.handoff(run) for the block; then the syncs queued in the block
    that still wait for a commit go to `run` too, skipping rows it already had."""
    connection = transaction.get_connection()
    earlier = [entry[1] for entry in _waiting_for_commit(connection)]
    handed = set()

    def hand_over(log_id, countdown=None):
        handed.add(log_id)
        return run(log_id, countdown)

    with outbox.handoff(hand_over):
        yield
    waiting = [entry for entry in _waiting_for_commit(connection)
               if not any(entry[1] is dispatch for dispatch in earlier)]
    with outbox.handoff(lambda log_id, countdown=None: log_id in handed or hand_over(log_id, countdown)):
        for entry in waiting:
            connection.run_on_commit.remove(entry)  # handed over now: not again at a commit after the block
            entry[1]()
