"""Fixtures for the resync tests: the AC sandbox made fast where a test is
not about its limits, people created straight in the database (no signal,
so no live sync rows), and the command run as an operator would run it."""
import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from badgemaker.accounts.models import User
from badgemaker.badges.models import Badge, Event
from crm_sync import importer

CONFIRMED = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def ac(ac_sandbox, settings, monkeypatch):
    """crm_sync pointed at the sandbox, with AC's limits raised and the importer quick."""
    settings.ACTIVECAMPAIGN_URL = ac_sandbox.url
    settings.ACTIVECAMPAIGN_API_KEY = ac_sandbox.api_key
    settings.CRM_SYNC = {**settings.CRM_SYNC, "REDIS_URL": "", "RATE_LIMIT_PER_SECOND": 1000.0}
    ac_sandbox.control.set_faults(rate_limit_per_second=1000, bulk_delay_seconds=0.05, bulk_seconds_per_contact=0)
    monkeypatch.setattr(importer, "POLL_FIRST", 0.05)
    monkeypatch.setattr(importer, "POLL_EVERY", 0.05)
    return ac_sandbox


@pytest.fixture
def event(db):
    return Event.objects.create(slug="pycon-2026", name="PyCon 2026", starts_on="2026-06-01")


@pytest.fixture
def attendee(db, event):
    """Create a person with a confirmed badge, without the save signals."""
    counter = iter(range(1, 100_000))

    def make(email=None, confirmed_at=CONFIRMED, on=None, opt_in=True, **badge_fields):
        n = next(counter)
        email = email or f"person{n}@example.com"
        user = User(email=email, username=email.lower(), first_name="Ada", last_name=f"Lovelace{n}",
                    phone="020 7946 0018", crm_opt_in=opt_in, password="!")
        User.objects.bulk_create([user])
        user = User.objects.get(email=email)
        badge = Badge(user=user, event=on or event, badge_name=badge_fields.pop("badge_name", f"Ada {n}"),
                      status=Badge.Status.CONFIRMED, confirmed_at=confirmed_at, **badge_fields)
        Badge.objects.bulk_create([badge])
        return user

    return make


def resync(*args):
    """Run the command; return (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("resync_crm", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        code = error.returncode
        err.write(str(error))
    return code, out.getvalue(), err.getvalue()


def since(day="2026-03-01", until="2026-03-31"):
    return ["--since", day, "--until", until]


def endpoint_count(control, endpoint):
    return control.stats()["endpoints"].get(endpoint, 0)


def local(*args):
    return timezone.make_aware(datetime.datetime(*args))
