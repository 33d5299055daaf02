"""Receivers: a confirmed badge, or a change to a person who has one, queues
a sync. They only hand off; no AC call, no waiting."""
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save

from .conf import crm_setting
from .mapping import mapping_module
from .outbox import queue_sync

# Saves that change nothing AC holds (a login, a password change).
IGNORED_USER_FIELDS = {"last_login", "password"}


def badge_saved(sender, instance, raw=False, **kwargs):
    if raw:  # loaddata: the reconciler picks these up
        return
    person = mapping_module().person_to_sync(instance)
    if person is not None:
        queue_sync(person, badge=instance)


def person_saved(sender, instance, created=False, raw=False, update_fields=None, **kwargs):
    if raw or created or (update_fields and set(update_fields) <= IGNORED_USER_FIELDS):
        return
    badge = mapping_module().latest_confirmed_badge(instance)
    if badge is not None:
        queue_sync(instance, badge=badge)


def connect():
    post_save.connect(badge_saved, sender=apps.get_model(crm_setting("BADGE_MODEL")),
                      dispatch_uid="crm_sync_badge_saved")
    post_save.connect(person_saved, sender=get_user_model(), dispatch_uid="crm_sync_person_saved")
