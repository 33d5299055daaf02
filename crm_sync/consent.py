"""A person's consent to be emailed: one ConsentRecord per change, wherever
it came from (the badge page, staff in the admin, the CRM's unsubscribe link
or subscribe form, the periodic pull), and the person's opt-in field kept in
step with the newest of them.

The newest `changed_at` wins, whatever order changes arrive in: AC delivers
webhooks at least once and in no particular order (docs/activecampaign.md §8),
so a late event must never undo a fresher choice.
"""
from contextlib import nullcontext

from django.db import transaction
from django.utils import timezone

from .mapping import crm_mapping
from .models import ConsentRecord
from .signals import without_sync

Source = ConsentRecord.Source


def latest_consent(person):
    """The person's newest ConsentRecord, or None."""
    return ConsentRecord.objects.filter(person=person).order_by("-changed_at", "-id").first()


def record_consent(person, *, opted_in, source, changed_at, reason="", wording="", inbox_event=None, sync=True):
    """Record that `person` opted in (or out) at `changed_at`, and set their
    opt-in field (the mapping's `opt_in_field`) to match.

    Returns the new ConsentRecord, or None when the person's latest record is
    as new as this one or newer: an equal-or-newer change already decides,
    so this one changes nothing (and is not recorded; the caller keeps its
    own trace, e.g. the inbox row). The person is saved, which queues a
    sync, only when the field actually changes; with `sync=False` the save
    queues none (a change the CRM reported, which it holds already)."""
    with transaction.atomic():
        # The person's row locked: two changes arriving together are compared one after the other.
        locked = type(person)._default_manager.select_for_update().get(pk=person.pk)
        latest = latest_consent(locked)
        if latest is not None and latest.changed_at >= changed_at:
            return None
        record = ConsentRecord.objects.create(
            person=locked, opted_in=opted_in, source=source, changed_at=changed_at,
            reason=(reason or "")[:2000], wording=wording or "", inbox_event=inbox_event,
        )
        with nullcontext() if sync else without_sync(locked):
            set_opt_in(locked, opted_in)
    setattr(person, crm_mapping().opt_in_field, opted_in)  # the caller's copy says so too
    return record


def set_opt_in(person, opted_in):
    """Set the person's opt-in field, saving only if it changes (a save queues a sync)."""
    mapping = crm_mapping()
    if mapping.is_opted_in(person) == opted_in:
        return False
    setattr(person, mapping.opt_in_field, opted_in)
    person.save(update_fields=[mapping.opt_in_field])
    return True


def consent_history(person, limit=None):
    """The person's consent records, newest first (at most `limit`)."""
    records = ConsentRecord.objects.filter(person=person).select_related("inbox_event").order_by("-changed_at", "-id")
    return list(records[:limit] if limit else records)


def record_form_change(person, changed_fields, *, source, wording="", reason=""):
    """After a form saved `person` (the badge page, the admin): record the
    change of their opt-in, now, if the form changed it. Returns the
    ConsentRecord, or None if the opt-in was not among `changed_fields`."""
    mapping = crm_mapping()
    if mapping.opt_in_field not in changed_fields:
        return None
    return record_consent(person, opted_in=mapping.is_opted_in(person), source=source, changed_at=timezone.now(),
                          wording=wording, reason=reason)
