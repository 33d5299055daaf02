"""Scenario 7: PostgreSQL restarted while attempts are `running`.

The restart must not touch the machine's shared server, so this scenario
runs on a private cluster (tests/processes.py:PostgresServer): the
worker's DATABASE_URL names it, and for the length of the test this
process's own default connection is pointed at it too, so the people it
creates and the end state it checks are the worker's (docs/reliability.md).
"""
import time
from contextlib import contextmanager

import environ
import pytest
from django.core.management import call_command
from django.db import connection

from badgemaker.badges.models import Event
from crm_sync.models import SyncLog
from tests.reliability.chaos.conftest import PEOPLE, assert_exactly_once, confirm_people, report, wait_until_settled
from tests.processes import PostgresServer

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]


@contextmanager
def default_database(url):
    """Point this process's default connection at another database for a while."""
    config = environ.Env.db_url_config(url)
    keys = ("NAME", "USER", "PASSWORD", "HOST", "PORT")
    saved = {key: connection.settings_dict[key] for key in keys}
    connection.close()
    connection.settings_dict.update({key: config[key] for key in keys})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def test_database_restart_while_attempts_run(chaos, tmp_path):
    server = PostgresServer(tmp_path / "pgdata").start()
    try:
        url = server.create_database("crm_sync_chaos_private")
        with default_database(url):
            call_command("migrate", verbosity=0)
            node, = chaos.workers_up(DATABASE_URL=url, CRM_SYNC_RUNNING_TIMEOUT=6)
            chaos.control.set_faults(latency_ms=100)  # attempts of ~0.5 s: always some running
            event = Event.objects.create(name="Restart Con", slug="restart-con", starts_on="2027-09-01")
            people = confirm_people(PEOPLE, event, prefix="restart")
            deadline = time.monotonic() + 30
            while SyncLog.objects.filter(status="running").count() < 2:
                assert time.monotonic() < deadline, "no attempt running to interrupt"
                time.sleep(0.05)
            running = SyncLog.objects.filter(status="running").count()
            main_pid, pool = node.process.pid, node.pool_pids()
            restarted = time.monotonic()
            server.restart()
            restart_seconds = time.monotonic() - restarted
            connection.close()  # ours was cut too
            chaos.control.set_faults(latency_ms=0)

            settle_seconds = wait_until_settled(90, "(after the restart)", on_error=connection.close)
            assert_exactly_once(chaos.control, people)
            assert node.process.poll() is None and node.process.pid == main_pid
            assert node.pool_pids() == pool, "the pool processes were replaced, not carried on"
            failed = SyncLog.objects.filter(status="failed").values_list("error_category", flat=True)
            report("7 database restart", wall_s=chaos.elapsed(), running_at_restart=running,
                   restart_s=round(restart_seconds, 1), settled_after_s=round(settle_seconds, 1),
                   failed_attempts=sorted(failed))
    finally:
        server.stop()
