"""Sign-up, log-in and the "About you" half of the badge page."""
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm, UsernameField
from django.db.models import Q

from badgemaker.crm_mapping import RefusesWhatCannotBeSent
from crm_sync.mapping import example_phone

from .models import User

EMAIL_TAKEN = "An account with this email address already exists (letter case doesn't matter)."
CONSENT = "Yes, the organisers may email me about this and future events. You can withdraw at any time."


def email_taken(email, exclude_pk=None):
    """Whether another account has this email, or logs in with it, in any letter case.

    The login name is the email lowercased when the account was made, so an
    account that has since changed its email still holds the old one.
    """
    others = User.objects.exclude(pk=exclude_pk)
    return others.filter(Q(email__iexact=email) | Q(username__iexact=email[:150])).exists()


class UniqueEmailMixin:
    def clean_email(self):
        email = self.cleaned_data["email"]
        if email_taken(email, exclude_pk=self.instance.pk):
            raise forms.ValidationError(EMAIL_TAKEN, code="email_taken")
        return email


class SignUpForm(UniqueEmailMixin, RefusesWhatCannotBeSent, UserCreationForm):
    crm_fields = {"first_name": "firstName", "last_name": "lastName"}

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("email", "first_name", "last_name")
        widgets = {"email": forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})}


class EmailAuthenticationForm(AuthenticationForm):
    """Django's log-in form, asking for the email (the model matches it in any letter case)."""

    username = UsernameField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password don't match an account. The password is case-sensitive.",
    }


class AdminEmailAuthenticationForm(AdminAuthenticationForm):
    """The admin's log-in form, labelled as what staff type: their email."""

    username = EmailAuthenticationForm.base_fields["username"]


class AboutYouForm(UniqueEmailMixin, RefusesWhatCannotBeSent, forms.ModelForm):
    """The attendee's own details, saved to their account. Each is refused
    when the CRM mapping would not send it as typed (a date of birth in the
    future or before 1900, a phone number that is not one, ...)."""

    crm_fields = {
        "first_name": "firstName", "last_name": "lastName", "phone": "phone", "date_of_birth": "DATE_OF_BIRTH",
        "emergency_contact_name": "EMERGENCY_CONTACT_NAME", "emergency_contact_phone": "EMERGENCY_CONTACT_PHONE",
        "twitter": "TWITTER", "instagram": "INSTAGRAM", "facebook": "FACEBOOK", "linkedin": "LINKEDIN",
        "tiktok": "TIKTOK",
    }  # fmt: skip

    class Meta:
        model = User
        fields = [
            "first_name", "last_name", "email", "date_of_birth", "phone",
            "emergency_contact_name", "emergency_contact_phone",
            "twitter", "instagram", "facebook", "linkedin", "tiktok",
            "crm_opt_in",
        ]  # fmt: skip
        labels = {"crm_opt_in": CONSENT}
        help_texts = {"crm_opt_in": ""}
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
            "emergency_contact_phone": forms.TextInput(attrs={"type": "tel"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read now, not at import: the example follows CRM_SYNC["PHONE_REGION"].
        for name in ("phone", "emergency_contact_phone"):
            self.fields[name].help_text = f"For example {example_phone()}"

    def save(self, commit=True):
        if "email" in self.changed_data:
            # The model fills the login name from the email only once; keep
            # them equal so that the attendee logs in with the new address.
            self.instance.username = self.instance.email.lower()[:150]
        return super().save(commit)
