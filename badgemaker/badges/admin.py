from django.contrib import admin

from .forms import BadgeForm
from .models import Badge, Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("name", "starts_on", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Badge)
class BadgeAdmin(admin.ModelAdmin):
    form = BadgeForm  # choice keys as checkbox groups, not raw JSON
    list_display = ("badge_name", "user", "event", "status", "confirmed_at")
    list_filter = ("status", "event")
    list_select_related = ("user", "event")
    search_fields = ("badge_name", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")
