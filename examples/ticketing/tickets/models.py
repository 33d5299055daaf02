"""A ticket shop's people and what they buy. Nothing here knows about the
CRM: crm_sync reads these models through `tickets.crm.TicketingMapping`."""
from django.db import models


class Customer(models.Model):
    """Someone who buys tickets. Not a login: staff log in with
    django.contrib.auth users, customers never do."""

    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    marketing_consent = models.BooleanField(
        default=False, help_text="Agreed to hear from us by email (joins the CRM list).",
    )

    def __str__(self):
        return self.email


class Registration(models.Model):
    """One ticket to one conference. Paying for it is what makes its
    customer a CRM contact."""

    class TicketType(models.TextChoices):
        STANDARD = "standard", "Standard"
        STUDENT = "student", "Student"
        SPEAKER = "speaker", "Speaker"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="registrations")
    conference = models.CharField(max_length=200)
    ticket_type = models.CharField(max_length=20, choices=TicketType.choices, default=TicketType.STANDARD)
    name_on_badge = models.CharField(max_length=100, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True, help_text="Empty until paid.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.conference} ({self.get_ticket_type_display()}) for {self.customer}"
