"""Keeping SyncLog in check: blank the personal values of old rows, and
delete rows older still. The inbox (InboxEvent: what the CRM told us) holds
personal data too and is kept the same way: its rows are redacted and
deleted on the same schedule, once processed.

Two rows are never touched: an attempt still `queued` or `running` (the
outbox and the workers own it), and each person's latest successful attempt
that recorded a payload, because the admin's "what changed" view compares the
next success with it. That row holds no more than ContactState.sent, which is
kept anyway (it is what the unchanged-skip relies on, and is never purged).

Each batch runs in its own transaction, so a long purge never holds a lock
on the table for long and can stop half-way without losing anything.
"""
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .conf import crm_setting
from .models import InboxEvent, SyncLog

REDACTED = ""
# What `redact` blanks in a SyncLog row, for the caller's save or bulk_update.
REDACTED_FIELDS = ["email", "payload", "requests", "warnings", "error_message", "redacted_at"]


@dataclass
class PurgeResult:
    deleted: int = 0
    redacted: int = 0
    inbox_deleted: int = 0
    inbox_redacted: int = 0


def purge_old_logs(older_than_days=None, redact_after_days=None, dry_run=False):
    """Redact rows older than `redact_after_days` and delete rows older than
    `older_than_days` (default: the REDACT_AFTER_DAYS and LOG_RETENTION_DAYS
    settings). Returns a PurgeResult; with `dry_run`, the counts of what
    would be done, and nothing changes. This is the daily beat task's body."""
    if older_than_days is None:
        older_than_days = crm_setting("LOG_RETENTION_DAYS")
    if redact_after_days is None:
        redact_after_days = crm_setting("REDACT_AFTER_DAYS")
    now = timezone.now()
    delete_before = now - timezone.timedelta(days=older_than_days)
    redact_before = now - timezone.timedelta(days=redact_after_days)
    doomed = SyncLog.objects.expendable(delete_before)
    # Rows about to be deleted need no redaction first.
    to_redact = SyncLog.objects.expendable(redact_before).filter(redacted_at__isnull=True, created_at__gte=delete_before)
    # Inbox rows still waiting to be processed are the sweep's, whatever their age.
    processed_events = InboxEvent.objects.exclude(outcome=InboxEvent.Outcome.PENDING)
    doomed_events = processed_events.filter(received_at__lt=delete_before)
    events_to_redact = processed_events.filter(received_at__lt=redact_before, received_at__gte=delete_before,
                                               redacted_at__isnull=True)
    if dry_run:
        return PurgeResult(deleted=doomed.count(), redacted=to_redact.count(),
                           inbox_deleted=doomed_events.count(), inbox_redacted=events_to_redact.count())
    return PurgeResult(deleted=_delete(doomed), redacted=_redact(to_redact, now),
                       inbox_deleted=_delete_events(doomed_events), inbox_redacted=_redact_events(events_to_redact, now))


def _batches(queryset):
    """Successive lists of at most PURGE_BATCH_SIZE ids from `queryset`, in
    id order, each read afresh after the previous one was handled."""
    size = crm_setting("PURGE_BATCH_SIZE")
    last = 0
    while ids := list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]):
        yield ids
        last = ids[-1]


def _delete(queryset):
    deleted = 0
    for ids in _batches(queryset):
        with transaction.atomic():
            # Filtered again inside the transaction: a row may have been claimed meanwhile.
            deleted += SyncLog.objects.filter(pk__in=ids).finished().delete()[0]
    return deleted


def _delete_events(queryset):
    """Delete inbox rows in batches. Their consent records stay (they are
    the person's consent history), without the link to the row."""
    deleted = 0
    for ids in _batches(queryset):
        with transaction.atomic():
            deleted += InboxEvent.objects.filter(pk__in=ids).exclude(outcome=InboxEvent.Outcome.PENDING).delete()[0]
    return deleted


def _redact_events(queryset, now):
    redacted = 0
    for ids in _batches(queryset):
        with transaction.atomic():
            events = list(InboxEvent.objects.select_for_update().filter(pk__in=ids))
            for event in events:
                redact_event(event, now)
            InboxEvent.objects.bulk_update(events, REDACTED_EVENT_FIELDS)
            redacted += len(events)
    return redacted


def _redact(queryset, now):
    redacted = 0
    for ids in _batches(queryset):
        with transaction.atomic():
            rows = list(SyncLog.objects.select_for_update().filter(pk__in=ids).finished())
            for row in rows:
                redact(row, now)
            SyncLog.objects.bulk_update(rows, REDACTED_FIELDS)
            redacted += len(rows)
    return redacted


def redact(row, now=None):
    """Blank a row's personal values in place, keeping its shape: the keys
    of its payload and request bodies, the field names of its warnings,
    every status, category, time and count. The caller saves it."""
    row.email = REDACTED
    payload = blank_values(row.payload)
    if isinstance(row.payload, dict) and "list_status" in row.payload:
        # Subscribed or not is a status, not a value about the person: kept.
        payload["list_status"] = row.payload["list_status"]
    row.payload = payload
    row.requests = [
        {
            **entry,
            # A lookup by email carries it in the query string.
            "path": str(entry.get("path") or "").partition("?")[0],
            "body": blank_values(entry.get("body")),
            # AC echoes the values it was sent, in answers and error messages alike.
            "response": REDACTED,
        }
        for entry in (row.requests or [])
        if isinstance(entry, dict)
    ]
    row.warnings = [str(warning).partition(":")[0] + ": (redacted)" for warning in (row.warnings or [])]
    row.error_message = REDACTED
    row.redacted_at = now or timezone.now()


# What `redact_event` blanks in an InboxEvent row.
REDACTED_EVENT_FIELDS = ["email", "payload", "reason", "redacted_at"]


def redact_event(event, now=None):
    """Blank an inbox row's personal values in place, keeping the keys of
    the event as the CRM sent it and every type, id, outcome and time. The
    reason goes too: it may quote what the event said. The caller saves it."""
    event.email = REDACTED
    event.payload = blank_values(event.payload)
    event.reason = "(redacted)" if event.reason else REDACTED
    event.redacted_at = now or timezone.now()


def blank_values(data):
    """`data` with every leaf value blanked and every key kept. A list of
    scalars keeps its length, so a redacted row still shows how many tags
    or values there were."""
    if isinstance(data, dict):
        return {key: blank_values(value) for key, value in data.items()}
    if isinstance(data, list):
        return [blank_values(value) for value in data]
    if data is None:
        return None
    return REDACTED
