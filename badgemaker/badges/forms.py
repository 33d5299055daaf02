"""The "Your badge" half of the badge page."""
from pathlib import PurePath

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.text import slugify

from badgemaker.crm_mapping import RefusesWhatCannotBeSent

from .models import DIETARY_CHOICES, VOLUNTEER_CHOICES, Badge

# An uploaded photo is stored as at most this many characters of its name (ASCII), so
# that its URL, sent to the CRM as BADGE_IMAGE_URL, is never too long to keep whole.
PHOTO_NAME_LENGTH = 40


class ChoiceKeysField(forms.MultipleChoiceField):
    """A checkbox group whose value is the list of chosen keys, as the Badge's JSONFields store them."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value):
        keys = super().to_python(value)
        # Checked before the choice check, so that a NUL gets the same error as in any text field.
        for key in keys:
            ProhibitNullCharactersValidator()(key)
        return keys


class PhotoInput(forms.ClearableFileInput):
    """The photo: the current one shown small, a "Remove" box and the file picker, in the form's own style."""

    template_name = "badges/widgets/photo_input.html"
    clear_checkbox_label = "Remove this photo"
    initial_text = "Your photo now"
    input_text = "Choose another"


class BadgeForm(RefusesWhatCannotBeSent, forms.ModelForm):
    dietary_preferences = ChoiceKeysField(choices=DIETARY_CHOICES, required=False)
    volunteer_interests = ChoiceKeysField(
        choices=VOLUNTEER_CHOICES, required=False, label="I'd like to help with"
    )
    crm_fields = {
        "badge_name": "BADGE_NAME", "dietary_preferences": "DIETARY_PREFERENCES",
        "volunteer_interests": "VOLUNTEER_INTERESTS", "dietary_requirements": "DIETARY_REQUIREMENTS",
    }  # fmt: skip

    class Meta:
        model = Badge
        fields = ["badge_name", "profile_image", "dietary_preferences", "volunteer_interests", "dietary_requirements"]
        labels = {
            "profile_image": "Photo (optional)",
            "dietary_requirements": "Anything else the caterers should know?",
        }
        widgets = {
            "profile_image": PhotoInput(attrs={"accept": "image/*"}),
            "dietary_requirements": forms.Textarea(attrs={"rows": 3}),
        }

    def clean_dietary_requirements(self):
        # Browsers send a textarea's new lines as CR LF; a lone CR is a control character the CRM never gets.
        return self.cleaned_data["dietary_requirements"].replace("\r\n", "\n").replace("\r", "\n")

    def clean_profile_image(self):
        photo = self.cleaned_data["profile_image"]
        if isinstance(photo, UploadedFile):
            # A new upload (not the photo already kept): its name becomes part of the URL the CRM keeps.
            name = PurePath(photo.name)
            stem = slugify(name.stem)[:PHOTO_NAME_LENGTH].strip("-_") or "photo"
            suffix = slugify(name.suffix.lstrip("."))[:8]
            photo.name = f"{stem}.{suffix}" if suffix else stem
        return photo
