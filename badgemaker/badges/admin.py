from django.contrib import admin

from crm_sync.admin import CrmStatusAdminMixin

from .forms import BadgeForm
from .models import Badge, Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("name", "starts_on", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Badge)
class BadgeAdmin(CrmStatusAdminMixin, admin.ModelAdmin):
    """The change page shows the badge holder's CRM sync status (crm_sync.admin)."""

    form = BadgeForm  # choice keys as checkbox groups, not raw JSON
    list_display = ("badge_name", "user", "event", "status", "confirmed_at")
    list_filter = ("status", "event")
    list_select_related = ("user", "event")
    search_fields = ("badge_name", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")
    actions = ["retry_crm_sync"]

    def crm_person(self, badge):
        return badge.user

    def crm_badge(self, badge):
        return badge
