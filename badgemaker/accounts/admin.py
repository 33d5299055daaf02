from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm

from crm_sync.admin import CrmStatusAdminMixin

from .forms import AdminEmailAuthenticationForm
from .models import User

# Staff log in with their email, as attendees do.
admin.site.login_form = AdminEmailAuthenticationForm


class AddUserForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)  # the login name is filled from it


@admin.register(User)
class UserAdmin(CrmStatusAdminMixin, DjangoUserAdmin):
    """The change page shows the person's CRM sync status (crm_sync.admin)."""

    add_form = AddUserForm
    list_display = ("email", "first_name", "last_name", "crm_opt_in", "is_staff")
    list_filter = ("crm_opt_in", "is_staff", "is_superuser", "is_active")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    actions = ["retry_crm_sync", "erase_from_crm"]
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "date_of_birth", "phone")}),
        ("Emergency contact", {"fields": ("emergency_contact_name", "emergency_contact_phone")}),
        ("Social", {"fields": ("twitter", "instagram", "facebook", "linkedin", "tiktok")}),
        ("Email from the organisers", {"fields": ("crm_opt_in",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )
