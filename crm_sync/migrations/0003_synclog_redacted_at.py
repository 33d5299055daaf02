from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("crm_sync", "0002_synclog_batch_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="synclog",
            name="redacted_at",
            field=models.DateTimeField(
                blank=True, help_text="When the personal values of this row were blanked (retention.py).", null=True,
            ),
        ),
    ]
