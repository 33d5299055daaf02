"""Database models: one SyncLog row per attempt, and what crm_sync knows about
each person's contact in ActiveCampaign."""
from django.conf import settings
from django.db import models
from django.utils import timezone



class SyncLog(models.Model):
    """One attempt to bring one person's contact in AC up to date.

    The row is written `queued` in the same transaction as the change that
    caused it, so it doubles as the outbox: a beat sweep dispatches rows that
    never reached a worker. Each retry is a new row with the next attempt number.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class Trigger(models.TextChoices):
        SIGNAL = "signal", "Badge or profile saved"
        ADMIN = "admin", "Retried from the admin"
        RESYNC = "resync", "Resync command"
        RECONCILE = "reconcile", "Found by the reconciler"

    class Category(models.TextChoices):
        NETWORK = "network", "Network error or timeout"
        RATE_LIMITED = "rate_limited", "Rate limited by AC (429)"
        SERVER_ERROR = "server_error", "AC server error (5xx)"
        BAD_RESPONSE = "bad_response", "AC answered something unreadable"
        VALIDATION = "validation", "AC rejected the data (fix the data)"
        CONFLICT = "conflict", "Email belongs to another AC contact"
        CONFIGURATION = "configuration", "Configuration (API key, field or list missing)"
        WORKER_LOST = "worker_lost", "The worker died during the attempt"
        POISON = "poison", "Kept killing workers; stopped"
        INTERNAL = "internal", "Internal error in crm_sync"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="crm_sync_logs", verbose_name="person",
    )
    badge = models.ForeignKey(
        settings.CRM_SYNC.get("BADGE_MODEL", "badges.Badge"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="crm_sync_logs",
        help_text="The badge whose change caused this sync, if any.",
    )
    email = models.CharField(max_length=254, blank=True, help_text="The email as sent to AC.")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SIGNAL)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error_category = models.CharField(max_length=20, choices=Category.choices, blank=True)
    error_message = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True, help_text="Values not sent, and why.")
    requests = models.JSONField(
        default=list, blank=True,
        help_text="Every AC request of this attempt: method, path, body, status and AC's (truncated) answer.",
    )
    payload = models.JSONField(
        null=True, blank=True, help_text="The contact as crm_sync meant AC to hold it after this attempt.",
    )
    account_url = models.CharField(max_length=255, blank=True)
    ac_contact_id = models.CharField("AC contact id", max_length=32, blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    deliveries = models.PositiveIntegerField(default=0, help_text="Times a worker picked this row up.")
    task_id = models.CharField(max_length=64, blank=True, help_text="The Celery task running this attempt.")
    batch_id = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="AC's bulk import batch, for resync attempts sent in bulk.",
    )
    lock_token = models.CharField(max_length=64, blank=True, help_text="Its hold on the person's lock.")
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="Last handed to the broker.")
    not_before = models.DateTimeField(null=True, blank=True, help_text="A queued row waits until then.")
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When a failed attempt will be retried.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    redacted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the personal values of this row were blanked (retention.py).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "sync attempt"
        indexes = [
            models.Index(fields=["status", "created_at"], name="crm_synclog_status_idx"),
            models.Index(fields=["user", "-created_at"], name="crm_synclog_user_idx"),
        ]
        permissions = [("retry_sync", "Can retry CRM syncs")]

    def __str__(self):
        return f"{self.email or self.user_id} attempt {self.attempt}: {self.status}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def is_open(self):
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class ContactState(models.Model):
    """What crm_sync last made AC hold for one person, per AC account.

    Every stored AC id is keyed by the account URL, so pointing crm_sync at
    another account (or a reset sandbox) can never send a stale id.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crm_states")
    account_url = models.CharField(max_length=255)
    ac_contact_id = models.CharField("AC contact id", max_length=32, blank=True)
    sent = models.JSONField(
        null=True, blank=True, help_text="Email, contact fields and custom fields last sent successfully.",
    )
    tags = models.JSONField(default=list, blank=True, help_text="Tag names known to be on the contact.")
    tags_known = models.BooleanField(
        default=False, help_text="Whether `tags` is a full account of the contact's tags that matter to us.",
    )
    list_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1 subscribed, 2 unsubscribed, as last set by crm_sync.",
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account_url"], name="crm_state_user_account_uniq")]

    def __str__(self):
        return f"{self.user_id} @ {self.account_url}: {self.ac_contact_id or 'not in AC'}"


class CatalogEntry(models.Model):
    """An AC id crm_sync has looked up once: a field by perstag, a tag by
    name (lower-cased) or a list by stringid. Shared by every worker."""

    class Kind(models.TextChoices):
        FIELD = "field"
        TAG = "tag"
        LIST = "list"

    account_url = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=255)
    ac_id = models.CharField(max_length=32)
    data = models.JSONField(default=dict, blank=True, help_text="Field type and options, for fields.")
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "catalog entries"
        constraints = [
            models.UniqueConstraint(fields=["account_url", "kind", "key"], name="crm_catalog_key_uniq"),
        ]


class Lease(models.Model):
    """A named lock with an expiry, for setups without Redis."""

    name = models.CharField(max_length=200, unique=True)
    token = models.CharField(max_length=64)
    expires_at = models.FloatField(help_text="Unix time.")


class RateSlot(models.Model):
    """The next free request slot of a rate limit, for setups without Redis."""

    name = models.CharField(max_length=200, unique=True)
    next_at = models.FloatField(default=0.0, help_text="Unix time.")



class SharedState(models.Model):
    """Small named values every process must agree on: the pause switch, and
    the circuit breaker's state when there is no Redis."""

    name = models.CharField(max_length=200, unique=True)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.name
