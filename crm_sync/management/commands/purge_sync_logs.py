"""``manage.py purge_sync_logs``: delete and redact old SyncLog rows now.

Argument parsing and output only; what is kept and why is crm_sync.retention.
"""
from django.core.management.base import BaseCommand

from crm_sync.conf import crm_setting
from crm_sync.retention import purge_old_logs


def days(text):
    """A whole number of days, at least 1 (argparse reports anything else)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Delete SyncLog rows older than --older-than days and blank the personal values of rows older than "
        "--redact-after days. Open attempts and each person's latest successful attempt are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=days, metavar="DAYS",
                            help="delete rows created more than DAYS ago (default: LOG_RETENTION_DAYS)")
        parser.add_argument("--redact-after", type=days, metavar="DAYS",
                            help="redact rows created more than DAYS ago (default: REDACT_AFTER_DAYS)")
        parser.add_argument("--dry-run", action="store_true", help="print the counts and change nothing")

    def handle(self, *args, older_than=None, redact_after=None, dry_run=False, **options):
        older_than = older_than or crm_setting("LOG_RETENTION_DAYS")
        redact_after = redact_after or crm_setting("REDACT_AFTER_DAYS")
        if redact_after > older_than:
            # Not wrong, but nothing would ever be redacted: say so rather than surprise.
            self.stderr.write(f"Note: rows are deleted after {older_than} days, before redaction at {redact_after}.")
        result = purge_old_logs(older_than_days=older_than, redact_after_days=redact_after, dry_run=dry_run)
        verb = ("would delete", "would redact") if dry_run else ("deleted", "redacted")
        self.stdout.write(
            f"{verb[0]} {result.deleted} sync attempt(s) older than {older_than} days; "
            f"{verb[1]} {result.redacted} older than {redact_after} days."
        )
