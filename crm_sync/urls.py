"""The URLs crm_sync serves to the outside: the CRM's webhook receiver.
A host project includes them once, under a prefix of its choosing:

    path("crm/", include("crm_sync.urls")),

The token is checked while the URL is resolved, so a wrong one is simply an
unknown URL (crm_sync/webhooks.py, docs/webhooks.md)."""
from django.urls import path, register_converter

from .conf import WEBHOOK_PATH
from .webhooks import WebhookTokenConverter, receive_webhook

register_converter(WebhookTokenConverter, "crm_webhook_token")

app_name = "crm_sync"
urlpatterns = [
    path(f"{WEBHOOK_PATH}<crm_webhook_token:token>/", receive_webhook, name="webhook"),
]
