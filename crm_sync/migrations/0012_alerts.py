import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("crm_sync", "0011_import_batches_and_lanes"),
    ]

    operations = [
        migrations.CreateModel(
            name="Alert",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("rule", models.CharField(choices=[
                    ("first_pass_rate", "First-attempt success rate low"),
                    ("queued_too_long", "A sync queued too long"),
                    ("breaker_open", "Circuit breaker open"),
                    ("retries_exhausted", "Retries exhausted"),
                    ("bulk_batch_failed", "A bulk import batch failed"),
                ], max_length=20)),
                ("state", models.CharField(choices=[
                    ("pending", "Pending (held back)"), ("firing", "Firing"), ("resolved", "Resolved"),
                ], default="pending", max_length=10)),
                ("first_seen_at", models.DateTimeField(default=django.utils.timezone.now,
                                                       help_text="When the condition was first found true.")),
                ("fired_at", models.DateTimeField(blank=True, null=True,
                                                  help_text="When it had held long enough and was sent.")),
                ("resolved_at", models.DateTimeField(blank=True, null=True,
                                                     help_text="When the condition was found over.")),
                ("message", models.TextField(
                    help_text="What the alert said, last time the condition was evaluated.")),
                ("detail", models.JSONField(blank=True, default=dict, help_text="The figures behind the message.")),
                ("deliveries", models.JSONField(blank=True, default=dict, help_text=(
                    'Per notice and channel ("fired:email", "resolved:webhook"): sent, failed (tried again) '
                    "or skipped."))),
            ],
            options={
                "ordering": ["-first_seen_at", "-id"],
                "indexes": [models.Index(fields=["state", "first_seen_at"], name="crm_alert_state_idx")],
                "constraints": [models.UniqueConstraint(
                    condition=models.Q(("state__in", ["pending", "firing"])), fields=("rule",),
                    name="crm_alert_one_open_per_rule")],
            },
        ),
    ]
