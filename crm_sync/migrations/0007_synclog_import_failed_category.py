# Choices only (no change in the database): `import_failed` for the rows of a
# bulk batch AC's importer ended failed or interrupted, or that never finished.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("crm_sync", "0006_synclog_record_and_trigger_choices"),
    ]

    operations = [
        migrations.AlterField(
            model_name="synclog",
            name="error_category",
            field=models.CharField(blank=True, choices=[
                ("network", "Network error or timeout"),
                ("rate_limited", "Rate limited by AC (429)"),
                ("server_error", "AC server error (5xx)"),
                ("bad_response", "AC answered something unreadable"),
                ("validation", "AC rejected the data (fix the data)"),
                ("not_found", "AC no longer knows an id crm_sync holds (404)"),
                ("conflict", "Email belongs to another AC contact"),
                ("import_failed", "AC's bulk importer did not finish the batch (send again)"),
                ("configuration", "Configuration (API key, field or list missing)"),
                ("worker_lost", "The worker died during the attempt"),
                ("poison", "Kept killing workers; stopped"),
                ("internal", "Internal error in crm_sync"),
            ], max_length=20),
        ),
    ]
