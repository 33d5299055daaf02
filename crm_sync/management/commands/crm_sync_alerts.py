"""`manage.py crm_sync_alerts`: evaluate the alert rules now, as beat does
each minute, and show the open and recent alerts; `--send-test` checks that
each channel reaches someone, and exits 1 when no channel is set up
(docs/operations.md#alerts)."""
from django.core.management.base import BaseCommand, CommandError

from crm_sync import alerts


class Command(BaseCommand):
    help = ("Evaluate crm_sync's alert rules now (sending what started or ended, as beat does) and list "
            "the open and recent alerts; --send-test sends a test notice on every channel.")

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--list", action="store_true", help="only list the alerts; evaluate nothing, send nothing")
        group.add_argument("--send-test", action="store_true",
                           help="send a test notice by email and to the webhook; exit 1 if no channel is set up")

    def handle(self, *args, **options):
        if options["send_test"]:
            return self.send_test()
        if not options["list"] and alerts.evaluate() is None:
            self.stdout.write(self.style.WARNING("Another evaluation is running (beat's): listing only."))
        overview = alerts.overview()
        if not overview["open"]:
            self.stdout.write(self.style.SUCCESS("No alert open."))
        for alert in overview["open"]:
            line = (f"{alert.get_state_display().upper()}: {alert.get_rule_display()} "
                    f"since {alerts.local_time(alert.first_seen_at)}")
            self.stdout.write(self.style.ERROR(line) if alert.state == alert.State.FIRING else self.style.WARNING(line))
            self.stdout.write(f"  {alert.message}\n  notices: {alert.delivered}")
        for alert in overview["recent"]:
            self.stdout.write(f"resolved: {alert.get_rule_display()} {alerts.local_time(alert.fired_at)} to "
                              f"{alerts.local_time(alert.resolved_at)}; notices: {alert.delivered}")

    def send_test(self):
        outcomes = alerts.send_test()
        for channel, outcome in outcomes.items():
            self.stdout.write(f"{channel}: {outcome}")
        # A test that reached no one must not pass for one that worked (cron, a deploy script).
        if all(outcome.startswith("skipped") for outcome in outcomes.values()):
            raise CommandError("No alert channel is set up, so nothing was sent: set DJANGO_ADMINS (email) "
                               "and/or CRM_SYNC_ALERT_WEBHOOK_URL (chat webhook); docs/operations.md#alerts.")
