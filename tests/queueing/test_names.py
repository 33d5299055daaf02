"""A SyncLog row and an attempt are named apart everywhere: the row by its
id, the attempt by its number ("attempt 7" once meant row 7), and logs
name the person by id, never by email."""
import logging

import pytest

from crm_sync.attempts import run_attempt
from crm_sync.models import SyncLog

pytestmark = pytest.mark.django_db


def test_the_workers_log_line_names_the_row_and_the_attempt(fake_ac, make_user, confirm_badge, caplog):
    person = make_user(email="ada@example.com")
    confirm_badge(person)
    log = SyncLog.objects.get()
    SyncLog.objects.filter(pk=log.pk).update(attempt=3)  # a row id and an attempt number that differ

    with caplog.at_level(logging.INFO, logger="crm_sync"):
        run_attempt(log.pk)

    [line] = [record.getMessage() for record in caplog.records if "SyncLog row" in record.getMessage()]
    assert line == f"crm_sync: SyncLog row {log.pk} (attempt 3 for person {person.pk}): success: created in AC"
    assert "ada@example.com" not in caplog.text


def test_a_row_reads_as_its_id_its_attempt_and_whose():
    row = SyncLog(pk=7, attempt=1, email="ada@example.com", user_id=3)
    assert str(row) == "SyncLog row 7 (attempt 1 for ada@example.com)"
    assert str(SyncLog(pk=8, attempt=2, user_id=3)) == "SyncLog row 8 (attempt 2 for person 3)"
