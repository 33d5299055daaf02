"""Database models: one SyncLog row per attempt, and what crm_sync knows about
each person's contact in the CRM. The person and record models are the host
project's, named in settings (conf.py)."""
from datetime import timedelta

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .errors import Category as ErrorCategory
from .conf import crm_setting, person_model_label, record_model_label


class SyncLogQuerySet(models.QuerySet):
    """The questions asked of the attempts, each answered in one place."""

    def open(self):
        """Attempts not finished: `queued` (waiting for a worker) or `running`."""
        return self.filter(status__in=OPEN_STATUSES)

    def finished(self):
        return self.exclude(status__in=OPEN_STATUSES)

    def stranded(self, now=None):
        """Queued rows overdue by `QUEUED_SWEEP_AFTER` that the broker never
        took, and those it took more than `REDISPATCH_AFTER` ago without a
        worker starting them (a broker that restarted empty): the sweep
        dispatches them again."""
        now = now or timezone.now()
        cutoff = now - timedelta(seconds=crm_setting("QUEUED_SWEEP_AFTER"))
        lost_cutoff = now - timedelta(seconds=crm_setting("REDISPATCH_AFTER"))
        return (self.filter(status=self.model.Status.QUEUED, created_at__lt=cutoff).exclude(not_before__gte=cutoff)
                .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=lost_cutoff)))

    def lost(self, now=None):
        """Rows `running` longer than any attempt can take: their worker died."""
        cutoff = (now or timezone.now()) - timedelta(seconds=crm_setting("RUNNING_TIMEOUT"))
        # Rows in a bulk batch are not lost but importing (the batch's poll
        # finishes them), and a resync run's rows without a task are closed
        # by the importer (close_abandoned_rows).
        return (self.filter(status=self.model.Status.RUNNING, started_at__lt=cutoff, batch_id="")
                .exclude(trigger=self.model.Trigger.RESYNC, task_id=""))

    def in_open_batches(self):
        """Rows sent to the bulk importer (by a resync or a burst) whose batch is not finished."""
        return self.filter(status=self.model.Status.RUNNING).exclude(batch_id="")

    def expendable(self, older_than):
        """Rows created before `older_than` that retention may delete or
        redact: finished, and not their person's latest success with a
        payload (the admin's "what changed" compares the next success with it)."""
        later_success = self.model.objects.filter(
            Q(finished_at__gt=OuterRef("finished_at")) | Q(finished_at=OuterRef("finished_at"), pk__gt=OuterRef("pk")),
            user=OuterRef("user"), status=self.model.Status.SUCCESS, payload__isnull=False,
        )
        # Written as "anything but a kept row" with EXISTS, so that no NULL can
        # turn the test unknown and silently keep or drop a row.
        return self.filter(created_at__lt=older_than).finished().filter(
            ~Q(status=self.model.Status.SUCCESS) | Q(payload__isnull=True) | Q(user__isnull=True) | Exists(later_success)
        )


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
        """The error categories of crm_sync.errors.Category, with the admin's labels."""

        NETWORK = ErrorCategory.NETWORK.value, "Network error or timeout"
        RATE_LIMITED = ErrorCategory.RATE_LIMITED.value, "Rate limited by AC (429)"
        SERVER_ERROR = ErrorCategory.SERVER_ERROR.value, "AC server error (5xx)"
        BAD_RESPONSE = ErrorCategory.BAD_RESPONSE.value, "AC answered something unreadable"
        VALIDATION = ErrorCategory.VALIDATION.value, "AC rejected the data (fix the data)"
        NOT_FOUND = ErrorCategory.NOT_FOUND.value, "AC no longer knows an id crm_sync holds (404)"
        CONFLICT = ErrorCategory.CONFLICT.value, "Email belongs to another AC contact"
        IMPORT_FAILED = ErrorCategory.IMPORT_FAILED.value, "AC's bulk importer did not finish the batch (send again)"
        CONFIGURATION = ErrorCategory.CONFIGURATION.value, "Configuration (API key, field or list missing)"
        WORKER_LOST = ErrorCategory.WORKER_LOST.value, "The worker died during the attempt"
        POISON = ErrorCategory.POISON.value, "Kept killing workers; stopped"
        INTERNAL = ErrorCategory.INTERNAL.value, "Internal error in crm_sync"

    class Lane(models.TextChoices):
        """The path a fresh sync takes during a burst (crm_sync/burst.py).
        Not ImportBatch.Lane, which says who queued a bulk batch."""

        # Blank for every row the burst switch does not decide (updates, retries, a resync's):
        # "Not decided" read as if a decision were still to come.
        UNDECIDED = "", "—"
        SINGLE = "single", "Per person"
        BULK = "bulk", "Bulk importer"

    user = models.ForeignKey(
        person_model_label(), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="crm_sync_logs", verbose_name="person",
    )
    badge = models.ForeignKey(
        record_model_label(), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="crm_sync_logs", verbose_name="record",
        help_text="The record (a badge, a registration) whose change caused this sync, if any.",
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
    account_url = models.CharField("account URL", max_length=255, blank=True)
    ac_contact_id = models.CharField("AC contact ID", max_length=32, blank=True)
    api_calls = models.PositiveIntegerField("API calls", default=0)
    deliveries = models.PositiveIntegerField(default=0, help_text="Times a worker picked this row up.")
    task_id = models.CharField("task ID", max_length=64, blank=True, help_text="The Celery task running this attempt.")
    batch_id = models.CharField(
        "batch ID", max_length=64, blank=True, default="", db_default="", db_index=True,
        help_text="AC's bulk import batch, for attempts sent in bulk.",
    )
    lane = models.CharField(
        "burst lane", max_length=6, blank=True, default="", db_default="", choices=Lane.choices,
        help_text="Whether a new person's first sync waited for AC's bulk importer during a burst; "
                  "blank for everything else.",
    )
    lock_token = models.CharField(max_length=64, blank=True, help_text="Its hold on the person's lock.")
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="Last handed to the broker.")
    not_before = models.DateTimeField(null=True, blank=True, help_text="A queued row waits until then.")
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When a failed attempt will be retried.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    redacted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the personal values of this row were blanked (after REDACT_AFTER_DAYS).",
    )

    objects = SyncLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "sync attempt"
        indexes = [
            models.Index(fields=["status", "created_at"], name="crm_synclog_status_idx"),
            models.Index(fields=["user", "-created_at"], name="crm_synclog_user_idx"),
        ]
        permissions = [("retry_sync", "Can retry CRM syncs")]

    def __str__(self):
        # The row's id and the attempt's number, each named: "attempt 7" was taken for a row id.
        whose = self.email or f"person {self.user_id}"
        return f"SyncLog row {self.pk} (attempt {self.attempt} for {whose})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES


# Attempts not finished: waiting for a worker, or being run by one.
OPEN_STATUSES = (SyncLog.Status.QUEUED, SyncLog.Status.RUNNING)


class ImportBatch(models.Model):
    """One batch the CRM's bulk importer queued: a resync's or a burst's.
    Its time from queued to completed is what the burst switch learns
    how long an import takes from (crm_sync/burst.py)."""

    class Lane(models.TextChoices):
        RESYNC = "resync", "Resync command"
        BURST = "burst", "Burst of live syncs"

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", "Importing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    batch_id = models.CharField("batch ID", max_length=64, db_index=True, help_text="The CRM's batch id.")
    account_url = models.CharField("account URL", max_length=255)
    lane = models.CharField(max_length=6, choices=Lane.choices)
    size = models.PositiveIntegerField(help_text="People in the batch.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IN_FLIGHT)
    queued_at = models.DateTimeField(default=timezone.now, help_text="When the CRM accepted the batch.")
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When crm_sync saw it finished.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        verbose_name_plural = "import batches"
        indexes = [models.Index(fields=["status", "queued_at"], name="crm_importbatch_status_idx")]

    def __str__(self):
        return f"batch {self.batch_id} ({self.size} people, {self.status})"

    @property
    def import_seconds(self):
        if self.completed_at:
            return (self.completed_at - self.queued_at).total_seconds()
        return None


class ContactState(models.Model):
    """What crm_sync last made AC hold for one person, per AC account.

    Every stored AC id is keyed by the account URL, so pointing crm_sync at
    another account (or a reset sandbox) can never send a stale id.
    """

    user = models.ForeignKey(person_model_label(), on_delete=models.CASCADE, related_name="crm_states")
    account_url = models.CharField("account URL", max_length=255)
    ac_contact_id = models.CharField("AC contact ID", max_length=32, blank=True)
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
    bounced_email = models.CharField(
        max_length=254, blank=True, default="", db_default="",
        help_text="The address AC reported as hard-bouncing; undeliverable while the person still has it.",
    )
    bounced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account_url"], name="crm_state_user_account_uniq")]

    def __str__(self):
        return f"{self.user_id} @ {self.account_url}: {self.ac_contact_id or 'not in AC'}"


class CatalogEntry(models.Model):
    """An AC id crm_sync has looked up once: a field by perstag, a tag by
    name (lower-cased) or a list by stringid. Shared by every worker. The
    last schema check's report is kept here too (kind "schema", no id)."""

    class Kind(models.TextChoices):
        FIELD = "field"
        TAG = "tag"
        LIST = "list"
        SCHEMA = "schema"

    account_url = models.CharField("account URL", max_length=255)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=255)
    ac_id = models.CharField("AC ID", max_length=32)
    data = models.JSONField(default=dict, blank=True, help_text="Field type and options, for fields.")
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "catalog entries"
        constraints = [
            models.UniqueConstraint(fields=["account_url", "kind", "key"], name="crm_catalog_key_uniq"),
        ]


class Schema(CatalogEntry):
    """The CRM account's schema as the admin shows it (crm_sync.schema):
    a proxy that exists for its permission, `crm_sync.change_schema`, which
    lets staff check the account and create what the mapping misses."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "CRM schema"
        default_permissions = ("change",)


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


# -- what comes back from the CRM (docs/webhooks.md) -----------------------------------
class InboxEvent(models.Model):
    """One event the CRM told us about: a webhook it delivered, or a change
    the periodic pull found. Written at once, worked off by a task after
    commit (like the outbox); the row is the guarantee nothing is lost.
    Deduplicated on `dedup_key`, because AC delivers at least once and has
    no event id."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        PULL = "pull", "Periodic pull"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting to be processed"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed (will be tried again)"

    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEBHOOK)
    event_type = models.CharField(max_length=40, help_text="AC's event name: unsubscribe, subscribe, bounce, …")
    initiated_from = models.CharField(max_length=20, blank=True, help_text="public, admin, api or system")
    contact_id = models.CharField("CRM contact ID", max_length=32, blank=True)
    list_id = models.CharField("list ID", max_length=32, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="When AC says it happened (date_time).")
    email = models.CharField(max_length=254, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="The event as received, keys as AC sent them.")
    dedup_key = models.CharField(max_length=64, unique=True, help_text="sha256 of type, contact id, list and date_time.")
    person = models.ForeignKey(
        person_model_label(), null=True, blank=True, on_delete=models.SET_NULL, related_name="crm_inbox_events",
    )
    account_url = models.CharField("account URL", max_length=255, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    reason = models.TextField(blank=True, help_text="What processing did, or why it did nothing.")
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["outcome", "received_at"], name="crm_inbox_outcome_idx")]

    def __str__(self):
        return f"{self.event_type} #{self.pk} ({self.outcome})"


class ConsentRecord(models.Model):
    """One change of a person's consent to be emailed: which way, when,
    where it came from, and the wording they saw. The newest `changed_at`
    wins, whatever order records arrive in."""

    class Source(models.TextChoices):
        BADGE_PAGE = "badge_page", "The badge page"
        ADMIN = "admin", "Staff, in the admin"
        CRM_WEBHOOK = "crm_webhook", "The CRM (webhook)"
        CRM_PULL = "crm_pull", "The CRM (periodic pull)"

    person = models.ForeignKey(person_model_label(), on_delete=models.CASCADE, related_name="crm_consents")
    opted_in = models.BooleanField()
    changed_at = models.DateTimeField(help_text="When the person changed it (AC's date_time for the CRM's).")
    source = models.CharField(max_length=12, choices=Source.choices)
    reason = models.TextField(blank=True, help_text="The CRM's reason, where it gave one.")
    wording = models.TextField(blank=True, help_text="The consent wording shown, for changes made on the badge page.")
    inbox_event = models.ForeignKey(InboxEvent, null=True, blank=True, on_delete=models.SET_NULL)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{'opted in' if self.opted_in else 'opted out'} via {self.source} at {self.changed_at:%Y-%m-%d %H:%M:%S}"


class ErasureReceipt(models.Model):
    """A person's erasure from the CRM: queued, retried like a sync, and kept
    afterwards as a receipt holding no personal data (who asked, when, which
    contact id, and the CRM's answer)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        WAITING = "waiting", "Waiting (see reason)"
        DONE = "done", "Erased"
        FAILED = "failed", "Failed"

    person_pk = models.CharField(
        "person ID", max_length=64, help_text="The erased person's primary key, for reference only.")
    account_url = models.CharField("account URL", max_length=255)
    contact_id = models.CharField("CRM contact ID", max_length=32, blank=True)
    requested_by = models.CharField(max_length=150, blank=True, help_text="The staff user, or 'account deleted'.")
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(blank=True, help_text="The CRM's answer, or why it waits.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self):
        return f"erasure of person {self.person_pk} ({self.status})"


# -- alerts (crm_sync/alerts.py, docs/operations.md#alerts) ---------------------------
class Alert(models.Model):
    """One occurrence of an alert rule's condition: held back (`pending`)
    until it has lasted long enough, then `firing` (notice sent) until it
    ends (`resolved`, recovery sent). The rows are the alerts' history, kept
    whatever happened to the emails. At most one open row per rule."""

    class Rule(models.TextChoices):
        FIRST_PASS_RATE = "first_pass_rate", "First-attempt success rate low"
        QUEUED_TOO_LONG = "queued_too_long", "A sync queued too long"
        BREAKER_OPEN = "breaker_open", "Circuit breaker open"
        RETRIES_EXHAUSTED = "retries_exhausted", "Retries exhausted"
        BULK_BATCH_FAILED = "bulk_batch_failed", "A bulk import batch failed"

    class State(models.TextChoices):
        PENDING = "pending", "Pending (held back)"
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    rule = models.CharField(max_length=20, choices=Rule.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    first_seen_at = models.DateTimeField(default=timezone.now, help_text="When the condition was first found true.")
    fired_at = models.DateTimeField(null=True, blank=True, help_text="When it had held long enough and was sent.")
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="When the condition was found over.")
    message = models.TextField(help_text="What the alert said, last time the condition was evaluated.")
    detail = models.JSONField(default=dict, blank=True, help_text="The figures behind the message.")
    deliveries = models.JSONField(
        default=dict, blank=True,
        help_text='Per notice and channel ("fired:email", "resolved:webhook"): sent, failed (tried again) or skipped.',
    )

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        indexes = [models.Index(fields=["state", "first_seen_at"], name="crm_alert_state_idx")]
        constraints = [
            # Two overlapping evaluations can never open the same alert twice.
            models.UniqueConstraint(fields=["rule"], condition=Q(state__in=["pending", "firing"]),
                                    name="crm_alert_one_open_per_rule"),
        ]

    def __str__(self):
        return f"{self.get_rule_display()} ({self.state})"

    @property
    def is_open(self):
        return self.state != self.State.RESOLVED
