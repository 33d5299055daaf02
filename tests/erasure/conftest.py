"""Fixtures for the erasure and subject access tests: people synced to the
fake AC (unit tests) or to the sandbox (integration tests) by the real
attempt, erasures run in this process instead of by a worker, and staff
with chosen permissions."""
import json
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Permission

from crm_sync import erasure
from crm_sync.models import ErasureReceipt, InboxEvent, SyncLog
from crm_sync.testing import run_syncs_eagerly


@pytest.fixture
def synced(db, confirm_badge, make_user):
    """`synced(email=..., **person)`: a person with a confirmed badge, synced
    to whatever AC the settings name by the live sync's own attempt."""

    def sync(email="ada@example.com", **person):
        with run_syncs_eagerly():
            user = make_user(email=email, **person)
            confirm_badge(user)
        assert SyncLog.objects.filter(user=user, status="success").exists()
        return user

    return sync


@pytest.fixture
def erasures(django_capture_on_commit_callbacks):
    """Inside `erasures.run()`, the erasures dispatched (on commit, or by the
    sweep) run at once in this process instead of by a worker, as the task
    would run them; `ran` lists the receipt ids run, `again` the (receipt
    id, countdown) the task would dispatch again."""

    class Erasures:
        def __init__(self):
            self.ran, self.again = [], []

        @contextmanager
        def run(self):
            def run(receipt_id, countdown=None):
                self.ran.append(receipt_id)
                countdown = erasure.run_erasure(receipt_id)
                if countdown is not None:
                    self.again.append((receipt_id, countdown))
                return True

            with erasure.handoff(run), django_capture_on_commit_callbacks(execute=True):
                yield

    return Erasures()


@pytest.fixture
def make_staff(make_user):
    """A logged-in test client for a staff member holding `perms` ("app.codename")."""

    def make(client, *perms):
        user = make_user(staff=True)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client.force_login(user)
        return client

    return make


def rows_naming(text):
    """Every SyncLog and InboxEvent row with `text` anywhere in it (any field, as JSON)."""
    found = []
    for model in (SyncLog, InboxEvent):
        for row in model.objects.values():
            if text.lower() in json.dumps(row, default=str).lower():
                found.append((model.__name__, row["id"]))
    return found


def receipt_text(receipt):
    """The receipt as stored, every field, for looking for personal data in it."""
    return json.dumps(ErasureReceipt.objects.filter(pk=receipt.pk).values().get(), default=str)
