"""The test seam for host projects, in the spirit of django-anymail's test
backend: a host's own tests can check what crm_sync would send without a
broker, a worker or sockets.

    from crm_sync.testing import capture_syncs

    def test_confirming_sends_the_badge_name(badge):
        with capture_syncs() as syncs:
            badge.confirm()
        sent = syncs.last(email="ada@example.com")
        assert sent.plan.payload.fields["BADGE_NAME"] == "Ada"
        assert "event:pycon" in sent.plan.payload.tags

Under `capture_syncs()` each sync that would be handed to Celery (when its
transaction commits) is planned at once, from the database as it is then,
and recorded; nothing is sent and the SyncLog row stays `queued`.

Under `run_syncs_eagerly()` each one runs the real attempt in this process,
against whatever CRM the settings name: with the `ac_sandbox` pytest fixture
(crm_sync.sandbox.pytest_plugin), an in-process sandbox over loopback.
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass

from . import outbox
from .conf import ac_account
from .attempts import run_attempt
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
        log = SyncLog.objects.select_related("user").get(pk=log_id)
        state = ContactState.objects.filter(user=log.user, account_url=ac_account()[0]).first() if log.user else None
        captured.append(CapturedSync(log=log, plan=plan(log.user, state) if log.user else None))
        return True

    with outbox.handoff(capture):
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
        ran.append(SyncLog.objects.get(pk=log_id))
        if follow_up is not None:
            run(follow_up.log.pk, follow_up.countdown)
        return True

    with outbox.handoff(run):
        yield ran
