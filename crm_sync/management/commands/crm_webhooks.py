from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from crm_sync import staging_guard
from crm_sync.errors import CrmError
from crm_sync.webhook_registration import EVENTS, SOURCES, masked, register, registered, remove


class Command(BaseCommand):
    help = ("The CRM's webhook to crm_sync's receiver (docs/webhooks.md). register: create it (events "
            f"{', '.join(EVENTS)}; sources {', '.join(SOURCES)}, never api; our list; the URL from "
            "WEBHOOK_URL and the first of WEBHOOK_TOKENS), or put it right; twice leaves one. status: whether "
            "it is there and what it listens to (exits 1 unless it is as register makes it). remove: delete it. "
            "The token is never printed.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["register", "status", "remove"])

    def handle(self, *args, action, **options):
        guard = staging_guard.reason()
        if guard and action != "status":
            # A staging registering its own receiver with production's AC would take production's events.
            raise CommandError(f"{action} refused: {guard} (`crm_sync_status --resume`)", returncode=1)
        try:
            getattr(self, action)()
        except (CrmError, ImproperlyConfigured) as error:
            raise CommandError(f"{action} stopped: {masked(str(error))}", returncode=1)

    def register(self):
        done = register()
        if done.kept:
            self.stdout.write(f"Already registered as wanted: webhook {done.kept}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Registered webhook {done.added}."))
        if done.removed:
            self.stdout.write(f"Removed the webhooks it replaces: {', '.join(done.removed)}.")
        self.status()

    def status(self):
        found, wanted = registered()
        if not found:
            raise CommandError(f"No crm_sync webhook posts to {masked(wanted['url'])}: run "
                               "`manage.py crm_webhooks register`.", returncode=1)
        for webhook in found:
            self.stdout.write(f"Webhook {webhook['id']} {webhook['name']!r}")
            self.stdout.write(f"  URL:     {masked(webhook['url'])}")
            self.stdout.write(f"  events:  {', '.join(webhook['events']) or '(none)'}")
            self.stdout.write(f"  sources: {', '.join(webhook['sources']) or '(none)'}")
            self.stdout.write(f"  list:    {webhook['list_id']}")
            for problem in webhook["problems"]:
                self.stdout.write(self.style.WARNING(f"  ! {problem}"))
        if len(found) > 1 or found[0]["problems"]:
            raise CommandError("The webhook is not as `crm_webhooks register` makes it: run it to put it right.",
                               returncode=1)
        self.stdout.write(self.style.SUCCESS("Registered as wanted."))

    def remove(self):
        done = remove()
        if done.removed:
            self.stdout.write(f"Removed webhook{'s' if len(done.removed) > 1 else ''} {', '.join(done.removed)}.")
        else:
            self.stdout.write("No crm_sync webhook was registered: nothing to remove.")
