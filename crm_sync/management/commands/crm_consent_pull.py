from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from crm_sync.pull import STOPPED, pull


class Command(BaseCommand):
    help = ("Ask the CRM which contacts on the list changed status since the last pull, and hand the news to "
            "the inbox, where it is processed like a webhook (beat does this every PULL_INTERVAL seconds). "
            "Prints counts; -v 2 also lists the addresses handed over.")

    def handle(self, *args, **options):
        try:
            pulled = pull()
        except (*STOPPED, ImproperlyConfigured) as error:
            raise CommandError(f"the pull stopped: {error}; nothing was skipped, run it again", returncode=1)
        self.stdout.write(f"Asked about changes from {pulled.since:%Y-%m-%d %H:%M:%S} to "
                          f"{pulled.until:%Y-%m-%d %H:%M:%S} UTC.")
        self.stdout.write(f"Found {count(pulled.found['unsubscribe'], 'unsubscribe')} and "
                          f"{count(pulled.found['subscribe'], 'subscribe')}.")
        self.stdout.write(f"  not news (the status crm_sync already holds): {pulled.not_news}")
        self.stdout.write(f"  already in the inbox: {pulled.duplicates}")
        self.stdout.write(f"  handed to the inbox: {pulled.received['unsubscribe']} unsubscribe, "
                          f"{pulled.received['subscribe']} subscribe")
        if options["verbosity"] >= 2:
            for email in pulled.emails:
                self.stdout.write(f"    {email}")


def count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"
