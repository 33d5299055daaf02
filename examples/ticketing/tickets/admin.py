from django.contrib import admin

from crm_sync.admin import CrmStatusAdminMixin

from .models import Customer, Registration


@admin.register(Customer)
class CustomerAdmin(CrmStatusAdminMixin, admin.ModelAdmin):
    """The change page shows the customer's CRM status and a "Retry sync" button."""

    list_display = ("email", "first_name", "last_name", "marketing_consent")
    search_fields = ("email", "first_name", "last_name")
    actions = ["retry_crm_sync"]


@admin.register(Registration)
class RegistrationAdmin(CrmStatusAdminMixin, admin.ModelAdmin):
    list_display = ("conference", "customer", "ticket_type", "paid_at")
    list_filter = ("conference", "ticket_type")
    raw_id_fields = ("customer",)
    actions = ["retry_crm_sync"]

    # The object is a registration: say whose CRM status to show.
    def crm_person(self, registration):
        return registration.customer

    def crm_badge(self, registration):
        return registration
