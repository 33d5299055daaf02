from django.contrib import admin
from django.urls import include, path

# crm_sync's staff pages (sync attempts, dashboard, schema, erasures) live in
# the admin; its own URLs are the receiver of AC's webhooks (docs/webhooks.md).
urlpatterns = [
    path("admin/", admin.site.urls),
    path("crm/", include("crm_sync.urls")),
]
