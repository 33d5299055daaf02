"""crm_sync's migrations can run while the old code still serves (docs/deploy.md,
"Upgrading without downtime"): they add tables and columns, never rename or
drop, and a new column is nullable or has a database default, so that the
old code's INSERTs, which do not name it, still go through."""
import importlib
import pkgutil

from django.db import migrations
from django.db.models import NOT_PROVIDED

import crm_sync.migrations

# Written before the rule: NOT NULL columns whose default Django dropped
# after filling the existing rows; 0013 gave them a database default.
BEFORE_THE_RULE = {("0002_synclog_batch_id", "batch_id"), ("0009_inbox_consent_erasure", "bounced_email")}
BREAKS_OLD_CODE = (migrations.RemoveField, migrations.RenameField, migrations.DeleteModel, migrations.RenameModel)


def operations():
    for module in pkgutil.iter_modules(crm_sync.migrations.__path__):
        migration = importlib.import_module(f"crm_sync.migrations.{module.name}").Migration
        for operation in migration.operations:
            yield module.name, operation


def test_no_migration_renames_or_drops():
    assert [(name, type(operation).__name__) for name, operation in operations()
            if isinstance(operation, BREAKS_OLD_CODE)] == []


def test_a_new_column_is_nullable_or_has_a_database_default():
    found = {(name, operation.name) for name, operation in operations()
             if isinstance(operation, migrations.AddField) and not operation.field.many_to_many
             and not operation.field.null and operation.field.db_default is NOT_PROVIDED}
    assert found - BEFORE_THE_RULE == set()
