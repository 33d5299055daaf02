"""The "Your badge" half of the badge page."""
from django import forms
from django.core.validators import ProhibitNullCharactersValidator

from .models import DIETARY_CHOICES, VOLUNTEER_CHOICES, Badge


class ChoiceKeysField(forms.MultipleChoiceField):
    """A checkbox group whose value is the list of chosen keys, as the Badge's JSONFields store them."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value):
        keys = super().to_python(value)
        # Checked before the choice check, so that a NUL gets the same error as in any text field.
        for key in keys:
            ProhibitNullCharactersValidator()(key)
        return keys


class BadgeForm(forms.ModelForm):
    dietary_preferences = ChoiceKeysField(choices=DIETARY_CHOICES, required=False)
    volunteer_interests = ChoiceKeysField(
        choices=VOLUNTEER_CHOICES, required=False, label="I'd like to help with"
    )

    class Meta:
        model = Badge
        fields = ["badge_name", "profile_image", "dietary_preferences", "volunteer_interests", "dietary_requirements"]
        labels = {"dietary_requirements": "Anything else the caterers should know?"}
        widgets = {
            "profile_image": forms.ClearableFileInput(attrs={"accept": "image/*"}),
            "dietary_requirements": forms.Textarea(attrs={"rows": 3}),
        }
