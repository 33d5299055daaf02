from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("badgemaker.accounts.urls")),
    # The CRM's webhooks: /crm/webhooks/…/<token>/ (docs/webhooks.md).
    path("crm/", include("crm_sync.urls")),
    path("", include("badgemaker.badges.urls")),
]

if settings.DEBUG:
    # Uploaded profile images; in production the web server serves MEDIA_ROOT.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
