"""Who a resync selects: confirmation date range in the project's time zone,
event, --failed-only and --missing."""
import datetime

import pytest

from badgemaker.badges.models import Badge, Event
from crm_sync.models import ContactState
from crm_sync.models import SyncLog
from crm_sync.resync import Options, select_people

from .conftest import resync

pytestmark = pytest.mark.django_db
UTC = datetime.timezone.utc
ACCOUNT = "https://badgemaker.api-us1.com"


def selected(since, until, **options):
    people, _ = select_people(Options(since=datetime.date.fromisoformat(since),
                                      until=datetime.date.fromisoformat(until), **options), ACCOUNT)
    return sorted(user.email for user in people)


def test_both_dates_are_inclusive(attendee):
    attendee("before@example.com", confirmed_at=datetime.datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
    attendee("first@example.com", confirmed_at=datetime.datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    # London is on summer time from 29 March: 31 March ends at 23:00 UTC.
    attendee("last@example.com", confirmed_at=datetime.datetime(2026, 3, 31, 22, 59, tzinfo=UTC))
    attendee("after@example.com", confirmed_at=datetime.datetime(2026, 3, 31, 23, 0, tzinfo=UTC))

    assert selected("2026-03-01", "2026-03-31") == ["first@example.com", "last@example.com"]


def test_days_are_the_project_time_zone_in_winter_and_summer(attendee, settings):
    settings.TIME_ZONE = "Europe/London"
    # 23:30 UTC is 23:30 in London in January (GMT) but 00:30 the next day in July (BST).
    attendee("winter@example.com", confirmed_at=datetime.datetime(2026, 1, 15, 23, 30, tzinfo=UTC))
    attendee("summer@example.com", confirmed_at=datetime.datetime(2026, 7, 15, 23, 30, tzinfo=UTC))

    assert selected("2026-01-15", "2026-01-15") == ["winter@example.com"]
    assert selected("2026-07-15", "2026-07-15") == []
    assert selected("2026-07-16", "2026-07-16") == ["summer@example.com"]


def test_until_defaults_to_today(attendee, ac):
    attendee("today@example.com", confirmed_at=datetime.datetime.now(UTC))

    code, out, _ = resync("--since", "2026-01-01", "--dry-run")

    assert code == 0 and "today@example.com" in out


def test_only_badges_still_confirmed_count(attendee):
    user = attendee("draft-again@example.com")
    Badge.objects.filter(user=user).update(status=Badge.Status.DRAFT)
    attendee("confirmed@example.com")

    assert selected("2026-03-01", "2026-03-31") == ["confirmed@example.com"]


def test_event_limits_to_badges_of_that_event(attendee):
    other = Event.objects.create(slug="djangocon-2026", name="DjangoCon 2026", starts_on="2026-09-01")
    attendee("pycon@example.com")
    attendee("djangocon@example.com", on=other)

    assert selected("2026-03-01", "2026-03-31", event="djangocon-2026") == ["djangocon@example.com"]


def test_failed_only_takes_people_whose_latest_attempt_failed(attendee):
    failed, recovered = attendee("failed@example.com"), attendee("recovered@example.com")
    attendee()  # never attempted: not selected
    SyncLog.objects.create(user=failed, status="success")
    SyncLog.objects.create(user=failed, status="failed")
    SyncLog.objects.create(user=recovered, status="failed")
    SyncLog.objects.create(user=recovered, status="success")

    assert selected("2026-03-01", "2026-03-31", failed_only=True) == ["failed@example.com"]


def test_missing_takes_people_opted_in_and_never_successfully_in_ac(attendee):
    attendee("new@example.com")
    in_ac = attendee("in-ac@example.com")
    ContactState.objects.create(user=in_ac, account_url=ACCOUNT, sent={"email": "in-ac@example.com"})
    gone = attendee("gone@example.com")  # AC lost the contact: the live sync forgot what it sent
    ContactState.objects.create(user=gone, account_url=ACCOUNT, sent=None)
    attendee("no-thanks@example.com", opt_in=False)
    elsewhere = attendee("other-account@example.com")
    ContactState.objects.create(user=elsewhere, account_url="https://other.api-us1.com", sent={"email": "x"})

    assert selected("2026-03-01", "2026-03-31", missing=True) == [
        "gone@example.com", "new@example.com", "other-account@example.com"]


def test_failed_only_and_missing_exclude_each_other(ac):
    code, _, err = resync("--since", "2026-03-01", "--failed-only", "--missing")
    assert code != 0 and "not allowed with argument" in err


@pytest.mark.parametrize("args, message", [
    (["--since", "2026-03-02", "--until", "2026-03-01"], "is after --until"),
    (["--since", "2026-03-01", "--batch-size", "251"], "--batch-size must be 1 to 250"),
    (["--since", "2026-03-01", "--batch-size", "0"], "--batch-size must be 1 to 250"),
    (["--since", "1 March"], "not a date"),
])
def test_bad_arguments_are_refused(ac, args, message):
    code, _, err = resync(*args)
    assert code == 1 and message in err
