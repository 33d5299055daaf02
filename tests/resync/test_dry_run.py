"""--dry-run writes nothing anywhere and shows what a real run would send:
the same people, the same skips, and the same refusal of settings that
cannot reach the account."""
import pytest
from django.db.models import Max

from badgemaker.accounts.models import User
from badgemaker.badges.models import Badge
from crm_sync.models import CatalogEntry, ContactState, RateSlot, SyncLog

from .conftest import resync, since

pytestmark = pytest.mark.django_db


def test_dry_run_sends_and_writes_nothing_and_prints_what_would_be_sent(ac, attendee):
    for _ in range(11):
        attendee()
    attendee(email="no-thanks@example.com", opt_in=False)

    code, out, _ = resync(*since(), "--dry-run")

    assert code == 0
    assert ac.control.log() == []
    assert not SyncLog.objects.exists() and not ContactState.objects.exists()
    assert not CatalogEntry.objects.exists() and not RateSlot.objects.exists()
    assert "bulk          person1@example.com" in out
    assert 'BADGE_NAME="Ada 1"' in out and "tags=badge-maker,event:pycon-2026" in out
    assert "not opted in  no-thanks@example.com" in out
    assert "Dry run, nothing written" in out
    assert "would send:               11 (11 in 1 bulk import(s), 0 one by one)" in out
    assert "skipped as not opted in:  1" in out


def test_dry_run_shows_field_ids_once_the_catalog_is_cached(ac, attendee):
    for _ in range(11):
        attendee()
    resync(*since(), "--batch-size", "250", "--poll-timeout", "5")  # a real run caches the catalog
    field_id = CatalogEntry.objects.get(kind="field", key="BADGE_NAME").ac_id
    ContactState.objects.update(sent=None)  # so they would be sent again
    rows = SyncLog.objects.count()
    seen = len(ac.control.log())

    code, out, _ = resync(*since(), "--dry-run")

    assert f'BADGE_NAME[{field_id}]="Ada 1"' in out
    assert ac.control.log(since=seen) == [] and SyncLog.objects.count() == rows


def test_dry_run_of_ten_or_fewer_says_one_by_one(ac, attendee):
    attendee()

    code, out, _ = resync(*since(), "--dry-run")

    assert "one by one    person1@example.com" in out
    assert "1 (0 in 0 bulk import(s), 1 one by one)" in out
    assert ac.control.log() == []


@pytest.mark.parametrize("url, key, message", [
    ("", "", "ACTIVECAMPAIGN_API_KEY is not set"),
    ("http://127.0.0.1:8100", "", "ACTIVECAMPAIGN_API_KEY is not set"),  # the URL alone (the case)
    ("", "a-key", "ACTIVECAMPAIGN_URL is not set"),
    ("http://ac.example.com", "a-key", "ACTIVECAMPAIGN_URL uses plain http"),
], ids=["nothing", "url-only", "key-only", "plain-http"])
def test_dry_run_refuses_settings_the_real_run_refuses_with_the_same_words(attendee, settings, url, key, message):
    settings.ACTIVECAMPAIGN_URL, settings.ACTIVECAMPAIGN_API_KEY = url, key
    attendee()  # someone a dry run without the account would have promised to send

    dry, real = resync(*since(), "--dry-run"), resync(*since())

    assert dry == real
    code, out, err = dry
    assert code == 1 and message in err
    assert "would send" not in out and not SyncLog.objects.exists()


def _summary(out):
    """The summary's figures by label, "would send" read as "sent"."""
    figures = {}
    for line in out.splitlines():
        label, colon, value = line.strip().partition(":")
        if colon and label in ("selected", "sent", "would send", "skipped as unchanged", "skipped as not opted in"):
            figures[label.replace("would send", "sent")] = value.strip()
    return figures


def test_dry_run_would_send_what_the_real_run_then_sends(ac, attendee):
    people = [attendee() for _ in range(11)]
    assert resync(*since())[0] == 0  # in AC now: unchanged unless touched below
    changed, withdrawn = people[0], people[1]
    Badge.objects.filter(user=changed).update(badge_name="Ada, changed")
    User.objects.filter(pk=withdrawn.pk).update(crm_opt_in=False)  # to be unsubscribed, one by one
    new = [attendee() for _ in range(2)]
    attendee(email="no-thanks@example.com", opt_in=False)
    seen = SyncLog.objects.aggregate(last=Max("pk"))["last"]  # ids need not start at 1 (PostgreSQL)

    dry_code, dry_out, _ = resync(*since(), "--dry-run")
    real_code, real_out, _ = resync(*since())

    assert dry_code == real_code == 0, real_out
    assert _summary(dry_out) == _summary(real_out)
    assert _summary(real_out)["sent"].startswith("4 ")  # the changed, the withdrawn and the two new
    would_send = {line[14:].split()[0] for line in dry_out.splitlines() if line.startswith(("bulk ", "one by one "))}
    sent = set(SyncLog.objects.filter(pk__gt=seen).exclude(status="skipped").values_list("email", flat=True))
    assert would_send == sent == {changed.email, withdrawn.email, *(person.email for person in new)}
