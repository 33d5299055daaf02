# The "CRM schema" proxy, for its permission `crm_sync.change_schema` (staff
# who may check the CRM account and create what the mapping misses), and the
# catalog's "schema" kind, which keeps the last check's report.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("crm_sync", "0007_synclog_import_failed_category"),
    ]

    operations = [
        migrations.CreateModel(
            name="Schema",
            fields=[],
            options={
                "verbose_name": "CRM schema",
                "verbose_name_plural": "CRM schema",
                "proxy": True,
                "default_permissions": ("change",),
                "indexes": [],
                "constraints": [],
            },
            bases=("crm_sync.catalogentry",),
        ),
        migrations.AlterField(
            model_name="catalogentry",
            name="kind",
            field=models.CharField(choices=[("field", "Field"), ("tag", "Tag"), ("list", "List"),
                                            ("schema", "Schema")], max_length=8),
        ),
    ]
