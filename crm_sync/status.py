"""What the operator on call needs to know, gathered once for the status
command and the admin dashboard."""
from django.db.models import Count, Min
from django.utils import timezone

from .breaker import CircuitBreaker
from .conf import ac_account
from .models import SyncLog
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
    }
