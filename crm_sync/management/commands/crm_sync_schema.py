import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from crm_sync import staging_guard
from crm_sync.connection import check_schema
from crm_sync.errors import CrmError
from crm_sync.schema import table


class Command(BaseCommand):
    help = ("Check the CRM account against the mapping: every custom field (and its type), the options its "
            "choices need, the list and the tags. Exits 1 unless the account can take every value. "
            "--apply creates what is missing; it never deletes, renames or retypes anything.")

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true",
                            help="create the missing fields, their relation to all lists, options and the list")
        parser.add_argument("--dry-run", action="store_true",
                            help="print the requests --apply would send, and send none")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        guard = staging_guard.reason()
        if guard and options["apply"] and not options["dry_run"]:
            raise CommandError(f"--apply refused: {guard} (`crm_sync_status --resume`)", returncode=1)
        try:
            report = check_schema(apply=options["apply"], dry_run=options["dry_run"])
        except (CrmError, ImproperlyConfigured) as error:
            after = "; what was created stays, run again to go on" if options["apply"] else ""
            raise CommandError(f"stopped: {error}{after}", returncode=1)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        else:
            self.print_report(report)
        if not report.fits:
            raise CommandError(f"the account cannot take every value yet ({len(report.problems)} to fix)",
                               returncode=1)

    def print_report(self, report):
        self.stdout.write(f"CRM account {report.account_url}, read {report.checked_at:%Y-%m-%d %H:%M:%S} UTC")
        for number, line in enumerate(table(report.rows)):
            self.stdout.write(self.style.MIGRATE_HEADING(line) if number == 0 else line)
        if report.mode == "dry-run" and report.requests:
            self.stdout.write("\nWould send (nothing was sent):")
            for sent in report.requests:
                self.stdout.write(f"  {sent['method']} {sent['path']} {json.dumps(sent['body'], ensure_ascii=False)}")
        elif report.requests:
            self.stdout.write("\nSent:")
            for sent in report.requests:
                self.stdout.write(f"  {sent['method']} {sent['path']} ({sent['item']}): {sent['status']}")
        for refusal in report.refusals:
            self.stdout.write(self.style.ERROR(f"Refused: {refusal}"))
        self.stdout.write("")
        if report.fits:
            self.stdout.write(self.style.SUCCESS("The account can take every value the mapping writes."))
        elif report.mode == "check":
            self.stdout.write("Run with --dry-run to see what --apply would send, --apply to create what is missing. "
                              "A wrong type is for a person to fix in the CRM.")
