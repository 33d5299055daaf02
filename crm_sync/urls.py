"""The URLs crm_sync serves to the outside: the CRM's webhook receiver and
the metrics Prometheus scrapes (crm_sync/metrics.py, docs/operations.md),
and the health check load balancers call (crm_sync/health.py).
A host project includes them once, under a prefix of its choosing:

    path("crm/", include("crm_sync.urls")),

The token is checked while the URL is resolved, so a wrong one is simply an
unknown URL (crm_sync/webhooks.py, docs/webhooks.md)."""
from django.urls import path, register_converter

from .conf import WEBHOOK_PATH
from .health import health_view
from .metrics import metrics_view
from .webhooks import WebhookTokenConverter, receive_webhook

register_converter(WebhookTokenConverter, "crm_webhook_token")

app_name = "crm_sync"
urlpatterns = [
    path(f"{WEBHOOK_PATH}<crm_webhook_token:token>/", receive_webhook, name="webhook"),
    path("metrics/", metrics_view, name="metrics"),
    path("health/", health_view, name="health"),  # no login: load balancers (crm_sync/health.py)
]
