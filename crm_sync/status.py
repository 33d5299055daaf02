"""What the operator on call needs to know, gathered once for the status
command and the admin dashboard."""
from django.db.models import Count, Min, Sum
from django.utils import timezone

from .breaker import CircuitBreaker
from .burst import latest_decision
from .conf import ac_account
from .models import ErasureReceipt, ImportBatch, SyncLog
from .attempts import pause_state


def sync_status():
    now = timezone.now()
    breaker = CircuitBreaker(ac_account()[0]).state()
    queued = SyncLog.objects.filter(status=SyncLog.Status.QUEUED)
    oldest = queued.aggregate(oldest=Min("created_at"))["oldest"]
    failures = (
        SyncLog.objects.filter(status=SyncLog.Status.FAILED, finished_at__gte=now - timezone.timedelta(hours=24))
        .values("error_category").annotate(n=Count("id")).order_by("-n")
    )
    return {
        "breaker": breaker,
        "paused": pause_state(),
        "backlog": queued.count(),
        "running": SyncLog.objects.filter(status=SyncLog.Status.RUNNING).count(),
        "oldest_queued_seconds": round((now - oldest).total_seconds()) if oldest else None,
        "failures_24h": {row["error_category"] or "unknown": row["n"] for row in failures},
        "erasures": erasure_status(),
        "bulk": bulk_status(),
    }


def named_failures(failures):
    """sync_status()'s `failures_24h` for people (the dashboard): [(code,
    label, count)], each category as the admin names it ("AC server error
    (5xx)"), one it does not know as it is."""
    labels = dict(SyncLog.Category.choices)
    return [(code, labels.get(code, code), count) for code, count in failures.items()]


def bulk_status():
    """The bulk importer's batches in flight, and the burst switch's last decision (burst.py)."""
    in_flight = (ImportBatch.objects.filter(status=ImportBatch.Status.IN_FLIGHT)
                 .aggregate(batches=Count("pk"), people=Sum("size")))
    return {"batches_in_flight": in_flight["batches"],
            "people_in_flight": in_flight["people"] or 0,
            "waiting_for_bulk": SyncLog.objects.filter(status=SyncLog.Status.QUEUED, lane=SyncLog.Lane.BULK).count(),
            "last_decision": latest_decision()}


def erasure_status():
    """Erasures not finished: how many are queued, and those waiting for a
    person to fix something (the CRM's deletion cap, a refused key), each
    with its reason; failed ones of the last 30 days need a human too."""
    Status = ErasureReceipt.Status
    recent = timezone.now() - timezone.timedelta(days=30)
    waiting = ErasureReceipt.objects.filter(status=Status.WAITING).order_by("requested_at", "pk")
    return {
        "queued": ErasureReceipt.objects.filter(status=Status.QUEUED).count(),
        "waiting": [{"id": receipt.pk, "contact_id": receipt.contact_id, "requested_at": receipt.requested_at,
                     "retry_at": receipt.retry_at, "reason": receipt.answer} for receipt in waiting[:20]],
        "waiting_count": waiting.count(),
        "failed_30d": ErasureReceipt.objects.filter(status=Status.FAILED, finished_at__gte=recent).count(),
    }
