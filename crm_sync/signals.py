"""Receivers: a confirmed record, or a change to a person who has one,
queues a sync; a deleted person is erased from the CRM. They only hand
off; no CRM call, no waiting (but for the one lookup an erasure may need,
erasure.request_erasure)."""
from contextlib import contextmanager
from contextvars import ContextVar

from django.apps import apps
from django.db.models.signals import post_save, pre_delete

from .conf import person_model_label, record_model_label
from .erasure import ACCOUNT_DELETED, request_erasure
from .mapping import crm_mapping
from .outbox import queue_sync

# Saves that change nothing the CRM holds (a login, a password change).
IGNORED_PERSON_FIELDS = {"last_login", "password"}
# The people whose saves queue no sync just now (`without_sync`).
_quiet_people = ContextVar("crm_sync_quiet_people", default=frozenset())


@contextmanager
def without_sync(person):
    """Inside the block, saves of `person` queue no sync. For a change the
    CRM itself reported (an unsubscribe, consent.py): it holds it already,
    so a sync back would only be a skipped row."""
    token = _quiet_people.set(_quiet_people.get() | {person.pk})
    try:
        yield
    finally:
        _quiet_people.reset(token)


def record_saved(sender, instance, raw=False, **kwargs):
    if raw:  # loaddata: the reconciler picks these up
        return
    mapping = crm_mapping()
    if mapping.is_confirmed(instance):
        # By key: the confirming request pays for the row's INSERT and nothing more.
        queue_sync(mapping.person_pk_of(instance), badge=instance)


def person_saved(sender, instance, created=False, raw=False, update_fields=None, **kwargs):
    if raw or created or (update_fields and set(update_fields) <= IGNORED_PERSON_FIELDS):
        return
    if instance.pk in _quiet_people.get():
        return
    record = crm_mapping().latest_confirmed(instance)
    if record is not None:
        queue_sync(instance, badge=record)


def person_deleted(sender, instance, **kwargs):
    """Before the person's row goes (while their contact id and email are
    still known), and in the deletion's transaction: if it rolls back, so
    does the erasure request."""
    request_erasure(instance, ACCOUNT_DELETED, leaving=True)


def connect():
    post_save.connect(record_saved, sender=apps.get_model(record_model_label()),
                      dispatch_uid="crm_sync_record_saved")
    post_save.connect(person_saved, sender=apps.get_model(person_model_label()),
                      dispatch_uid="crm_sync_person_saved")
    pre_delete.connect(person_deleted, sender=apps.get_model(person_model_label()),
                       dispatch_uid="crm_sync_person_deleted")
