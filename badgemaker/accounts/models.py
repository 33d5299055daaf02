"""Attendees: Badge Maker's user model."""
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


class AttendeeManager(UserManager):
    def get_by_natural_key(self, username):
        # Log in by email regardless of letter case.
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractUser):
    """An attendee (or a member of staff).

    The email is the login and is unique regardless of letter case, because
    ActiveCampaign matches emails case-insensitively: `A@x.com` and `a@x.com`
    would be one contact there.
    """

    email = models.EmailField("email address", unique=True)
    date_of_birth = models.DateField(null=True, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = models.CharField(max_length=40, blank=True)
    twitter = models.CharField("Twitter / X", max_length=200, blank=True)
    instagram = models.CharField(max_length=200, blank=True)
    facebook = models.CharField(max_length=200, blank=True)
    linkedin = models.CharField("LinkedIn", max_length=200, blank=True)
    tiktok = models.CharField("TikTok", max_length=200, blank=True)
    crm_opt_in = models.BooleanField(
        "hear from the organisers",
        default=False,
        help_text="The attendee agreed that the organisers may contact them.",
    )

    objects = AttendeeManager()

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip()
        # The email is the login: keep the username equal to it, so that a
        # changed email logs in at once and frees the old address.
        if self.email:
            self.username = self.email.lower()[:150]
        super().save(*args, **kwargs)

    def __str__(self):
        return self.email
