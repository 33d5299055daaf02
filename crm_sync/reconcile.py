"""The reconciler: finds people whose confirmed record changed without a
`post_save` (`queryset.update()`, `loaddata`, raw SQL, data migrations) and
queues a sync for them. Beat runs it; so does `manage.py crm_reconcile`."""
from django.db.models import F, OuterRef, Q, Subquery

from .mapping import crm_mapping
from .models import SyncLog
from .outbox import queue_sync


def reconcile():
    """Queue a sync for opted-in people whose confirmed record changed after
    their last attempt and who have none pending: changes that never fired
    `post_save` (`queryset.update()`, `loaddata`, raw SQL, data migrations).
    Such writes must move the record's confirmation or change time.
    Returns how many were queued."""
    queued = 0
    mapping = crm_mapping()
    for person in people_changed_since_last_attempt(mapping).iterator():
        if SyncLog.objects.filter(user=person).open().exists():
            continue
        queue_sync(person, badge=mapping.latest_confirmed(person), trigger=SyncLog.Trigger.RECONCILE)
        queued += 1
    return queued


def people_changed_since_last_attempt(mapping):
    """Opted-in people with a confirmed record confirmed or changed after
    their latest sync attempt, or never attempted at all."""
    person = mapping.person_field
    last_attempt = (SyncLog.objects.filter(user=OuterRef(person)).order_by("-created_at")
                    .values("created_at")[:1])
    changed = Q(last_attempt__isnull=True) | Q(**{f"{mapping.confirmed_at_field}__gt": F("last_attempt")})
    if mapping.changed_at_field:
        changed |= Q(**{f"{mapping.changed_at_field}__gt": F("last_attempt")})
    records = (mapping.confirmed_records().filter(mapping.opted_in_filter(prefix=f"{person}__"))
               .annotate(last_attempt=Subquery(last_attempt)).filter(changed))
    return mapping.person_model._default_manager.filter(pk__in=records.values(person)).order_by("pk")
