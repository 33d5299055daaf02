"""--dry-run writes nothing anywhere and shows what a real run would send."""
import pytest

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
