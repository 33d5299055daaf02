import json
import sys

from django.core.management.base import BaseCommand

from crm_sync import health, staging_guard
from crm_sync.attempts import pause
from crm_sync.outbox import resume
from crm_sync.status import sync_status


class Command(BaseCommand):
    help = "Show crm_sync's state (breaker, pause switch, backlog, failures); pause or resume sending."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--pause", metavar="REASON", help="keep queueing syncs but send none (AC maintenance)")
        group.add_argument("--resume", action="store_true",
                           help="send again, starting with the backlog (also overrides the staging guard, "
                                "for this public URL, for good)")
        group.add_argument("--check", action="store_true",
                           help="the health check (as the health/ URL): print 'ok' and exit 0, or print "
                                "what is wrong and exit 1 (cron, systemd timers)")
        parser.add_argument("--json", action="store_true", help="print the status as JSON")

    def handle(self, *args, **options):
        if options["check"]:
            return self.health_check(options["json"])
        if options["pause"] is not None:
            pause(options["pause"])
            self.stdout.write(self.style.WARNING(f"Paused: {options['pause']}"))
        if options["resume"]:
            self.resume_sending()
        status = sync_status()
        if options["json"]:
            self.stdout.write(json.dumps(status, indent=2, default=str))
        else:
            self.write_status(status)

    def resume_sending(self):
        """Resume, saying so when that overrode the staging guard (resume() records the override)."""
        guard = staging_guard.reason()
        sent = resume()
        if guard:
            self.stdout.write(self.style.WARNING(
                f"Overrode the {guard.removesuffix(staging_guard.RESUME_HINT)}. "
                "Recorded for this public URL: it sends from now on, after restarts too."))
        self.stdout.write(self.style.SUCCESS(f"Resumed; dispatched {sent} queued syncs."))

    def write_status(self, status):
        breaker = status["breaker"]
        if breaker["state"] == "open":
            line = f"OPEN ({breaker['reason']}): {breaker.get('message', '')}"
            self.stdout.write("Circuit breaker: " + self.style.ERROR(line))
        else:
            self.stdout.write("Circuit breaker: " + self.style.SUCCESS("closed"))
        paused = status["paused"]
        self.stdout.write("Sending:         " + (self.style.WARNING(f"PAUSED ({paused.get('reason') or 'no reason'})")
                                                 if paused.get("on") else self.style.SUCCESS("on")))
        oldest = status["oldest_queued_seconds"]
        self.stdout.write(f"Backlog:         {status['backlog']} queued, {status['running']} running"
                          + (f", oldest queued {oldest}s ago" if oldest is not None else ""))
        failures = ", ".join(f"{k} {v}" for k, v in status["failures_24h"].items()) or "none"
        self.stdout.write(f"Failures (24 h): {failures}")
        self.write_erasures(status["erasures"])
        self.write_bulk(status["bulk"])

    def write_bulk(self, bulk):
        line = (f"Bulk importer:   {bulk['batches_in_flight']} batches importing ({bulk['people_in_flight']} people), "
                f"{bulk['waiting_for_bulk']} waiting for the next")
        decision = bulk["last_decision"]
        if decision:
            line += (f"; burst switch last chose {'bulk' if decision['bulk'] else 'per person'} "
                     f"({decision['backlog']} queued: {decision['drain_seconds']:.0f} s one by one, "
                     f"{decision['bulk_seconds']:.0f} s in bulk)")
        self.stdout.write(line)

    def write_erasures(self, erasures):
        """Erasures waiting on a configuration problem are an error to fix, one line each."""
        line = f"Erasures:        {erasures['queued']} queued, {erasures['waiting_count']} waiting"
        if erasures["failed_30d"]:
            line += f", {erasures['failed_30d']} failed in 30 days (see the erasure receipts in the admin)"
        self.stdout.write(self.style.ERROR(line) if erasures["waiting_count"] or erasures["failed_30d"] else line)
        for receipt in erasures["waiting"]:
            self.stdout.write(self.style.ERROR(
                f"  erasure {receipt['id']} (contact {receipt['contact_id'] or '?'}), next try {receipt['retry_at']}: "
                f"{receipt['reason']}"))

    def health_check(self, as_json):
        """Exit 0 printing "ok" when healthy, else 1 printing each problem (crm_sync/health.py decides)."""
        report = health.evaluate()
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        elif report.healthy:
            warnings = [f"{result.name}: {result.detail}" for result in report.results if result.status == "warning"]
            self.stdout.write("ok" + (f" ({'; '.join(warnings)})" if warnings else ""))
        else:
            for result in report.problems:
                self.stdout.write(self.style.ERROR(f"{result.name}: {result.detail}"))
        if not report.healthy:
            sys.exit(1)
