"""Events and the badges attendees make for them."""
from django.conf import settings
from django.db import models
from django.utils import timezone

DIETARY_CHOICES = [
    ("vegetarian", "Vegetarian"),
    ("vegan", "Vegan"),
    ("pescatarian", "Pescatarian"),
    ("gluten_free", "Gluten-free"),
    ("dairy_free", "Dairy-free"),
    ("nut_allergy", "Nut allergy"),
    ("halal", "Halal"),
    ("kosher", "Kosher"),
]
VOLUNTEER_CHOICES = [
    ("registration_desk", "Registration desk"),
    ("setup_teardown", "Setup and teardown"),
    ("speaker_support", "Speaker support"),
    ("photography", "Photography"),
    ("social_media", "Social media"),
    ("accessibility", "Accessibility support"),
]


class Event(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    starts_on = models.DateField()

    class Meta:
        ordering = ["starts_on", "name"]

    def __str__(self):
        return self.name


class Badge(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        CONFIRMED = "confirmed", "Confirmed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="badges")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="badges")
    badge_name = models.CharField(max_length=100, help_text="The name printed on the badge.")
    profile_image = models.ImageField(upload_to="badges/", blank=True)
    dietary_preferences = models.JSONField(default=list, blank=True, help_text="Dietary choice keys.")
    volunteer_interests = models.JSONField(default=list, blank=True, help_text="Volunteer choice keys.")
    dietary_requirements = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event"], name="badges_one_badge_per_user_event")]
        indexes = [models.Index(fields=["status", "confirmed_at"], name="badges_status_confirmed_idx")]

    def __str__(self):
        return f"{self.badge_name} ({self.event})"

    @property
    def is_confirmed(self):
        return self.status == self.Status.CONFIRMED

    def confirm(self):
        """Mark the badge confirmed now; the caller saves it."""
        self.status = self.Status.CONFIRMED
        self.confirmed_at = timezone.now()
