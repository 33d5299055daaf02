from django.contrib import admin
from django.urls import path

# crm_sync needs no URLs of its own: its pages (sync attempts, dashboard,
# "what changed", retry) live in the admin.
urlpatterns = [
    path("admin/", admin.site.urls),
]
