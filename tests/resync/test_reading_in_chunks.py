"""The resync reads people a chunk at a time: their records, their state and
their erasures in one query per chunk, not per person, and the records it
reads are the ones the live sync reads for each."""
import datetime
from contextlib import contextmanager

import pytest
from django.db import connection

from badgemaker.badges.models import Badge, Event
from crm_sync import resync as resync_module
from crm_sync.conf import ac_account
from crm_sync.mapping import crm_mapping
from crm_sync.models import ErasureReceipt, SyncLog

from .conftest import CONFIRMED, resync, since


@contextmanager
def counting_queries():
    """Every statement sent to the database (an executemany counts once)."""
    seen = []

    def count(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield seen


def test_load_many_gives_each_person_what_load_gives(attendee, event, db):
    other, third = (Event.objects.create(slug=slug, name=slug, starts_on="2026-09-01")
                    for slug in ("djangocon", "europython"))
    ada, bob, cat = attendee(), attendee(), attendee()
    Badge.objects.bulk_create([
        Badge(user=ada, event=other, badge_name="Ada again", status=Badge.Status.CONFIRMED,
              confirmed_at=CONFIRMED - datetime.timedelta(days=3)),
        Badge(user=ada, event=third, badge_name="Ada, no time", status=Badge.Status.CONFIRMED, confirmed_at=None),
        Badge(user=bob, event=other, badge_name="Bob, draft", status=Badge.Status.DRAFT, confirmed_at=None),
    ])
    Badge.objects.filter(user=cat).delete()
    mapping = crm_mapping()

    loaded = mapping.load_many([ada, bob, cat])

    for person in (ada, bob, cat):
        assert loaded[person.pk].person is person
        assert loaded[person.pk].records == mapping.load(person).records
    assert [badge.badge_name for badge in loaded[ada.pk].records][:2] == ["Ada, no time", "Ada again"]
    assert loaded[cat.pk].records == []


def test_the_queries_of_a_bulk_resync_do_not_grow_with_the_people(ac, attendee, db):
    """The live sync's reads per person (records, erasure, the account's
    fields) are made once a chunk: 60 people cost a few more statements than
    20 (a second insert of rows), not three more each."""
    warm, few, many = (Event.objects.create(slug=slug, name=slug, starts_on="2026-06-01")
                       for slug in ("warm", "few", "many"))
    for event, count in ((warm, 12), (few, 20), (many, 60)):
        for _ in range(count):
            attendee(on=event)
    # The first run stores the account's fields and list: not the subject here.
    assert resync(*since(), "--event", "warm")[0] == 0

    with counting_queries() as for_few:
        assert resync(*since(), "--event", "few")[0] == 0
    with counting_queries() as for_many:
        assert resync(*since(), "--event", "many")[0] == 0

    assert SyncLog.objects.filter(status="success").count() == 92
    assert len(for_many) - len(for_few) <= 6


def test_someone_erased_while_the_run_reads_is_skipped_not_sent(ac, attendee, monkeypatch):
    """The erasures are read a chunk at a time, just before the chunk is
    decided: someone erased after the selection is not sent."""
    people = [attendee() for _ in range(12)]
    erased = people[5]
    select = crm_mapping().load_many

    def erase_then_load(chunk):
        ErasureReceipt.objects.create(person_pk=str(erased.pk), account_url=ac_account()[0])
        return select(chunk)

    monkeypatch.setattr(type(crm_mapping()), "load_many", lambda self, chunk: erase_then_load(chunk))

    code, out, _ = resync(*since())

    assert code == 0
    assert SyncLog.objects.get(user=erased).status == "skipped"
    assert SyncLog.objects.filter(status="success").count() == 11
    assert erased.email not in {contact["email"] for contact in ac.control.contacts()}


def test_people_are_read_a_chunk_at_a_time_each_once(ac, attendee, monkeypatch):
    monkeypatch.setattr(resync_module, "CHUNK", 5)
    people = [attendee(opt_in=n != 7) for n in range(13)]

    code, out, _ = resync(*since())

    assert code == 0
    rows = SyncLog.objects.order_by("user_id")
    assert [row.user_id for row in rows] == [person.pk for person in people]
    assert [row.status for row in rows] == ["success"] * 7 + ["skipped"] + ["success"] * 5
    assert "selected:                 13" in out
