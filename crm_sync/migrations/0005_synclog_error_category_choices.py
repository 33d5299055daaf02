# Choices only (no change in the database): `not_found` for a 404, which was
# stored as `validation` before, and `poison`, which 0001 lacked.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("crm_sync", "0004_shared_state"),
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
                ("configuration", "Configuration (API key, field or list missing)"),
                ("worker_lost", "The worker died during the attempt"),
                ("poison", "Kept killing workers; stopped"),
                ("internal", "Internal error in crm_sync"),
            ], max_length=20),
        ),
    ]
