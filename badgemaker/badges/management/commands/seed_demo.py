from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from badgemaker.badges.models import Event

ADMIN_EMAIL = "admin@example.com"


class Command(BaseCommand):
    help = "Create the demo superuser and the demo event. Safe to run again: it resets the demo password."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="badgemaker-demo", help="password for %s" % ADMIN_EMAIL)

    def handle(self, *args, password, **options):
        User = get_user_model()
        admin = User.objects.filter(email__iexact=ADMIN_EMAIL).first() or User(email=ADMIN_EMAIL)
        admin.is_staff = admin.is_superuser = admin.is_active = True
        admin.set_password(password)
        admin.save()
        event, created = Event.objects.get_or_create(
            slug="pycon-demo-2026",
            defaults={"name": "PyCon Demo 2026", "starts_on": timezone.localdate() + timedelta(days=30)},
        )
        self.stdout.write(f"Superuser {admin.email}, password: {password}")
        self.stdout.write(f"Event {event.name} on {event.starts_on:%d %B %Y}" + (" (created)" if created else ""))
