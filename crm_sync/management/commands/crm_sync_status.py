import json

from django.core.management.base import BaseCommand

from crm_sync.attempts import pause
from crm_sync.outbox import resume
from crm_sync.status import sync_status


class Command(BaseCommand):
    help = "Show crm_sync's state (breaker, pause switch, backlog, failures); pause or resume sending."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--pause", metavar="REASON", help="keep queueing syncs but send none (AC maintenance)")
        group.add_argument("--resume", action="store_true", help="send again, starting with the backlog")
        parser.add_argument("--json", action="store_true", help="print the status as JSON")

    def handle(self, *args, **options):
        if options["pause"] is not None:
            pause(options["pause"])
            self.stdout.write(self.style.WARNING(f"Paused: {options['pause']}"))
        if options["resume"]:
            self.stdout.write(self.style.SUCCESS(f"Resumed; dispatched {resume()} queued syncs."))
        status = sync_status()
        if options["json"]:
            self.stdout.write(json.dumps(status, indent=2, default=str))
            return
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
