"""The acceptance test: a real Celery worker with two prefork processes
syncs confirmed badges to the AC sandbox; one scrape of the endpoint adds up
what both processes recorded (prometheus_client's multiprocess mode, through
the directory they share with the scraper) and agrees with the SyncLog rows."""
import re
import shutil
from collections import Counter

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from crm_sync.models import SyncLog
from tests.factories import BadgeFactory, EventFactory, UserFactory
from tests.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PEOPLE = 10


@pytest.fixture
def metrics_dir(tmp_path, monkeypatch):
    """The directory the worker's processes write to and the scrape reads,
    created empty as at a deploy."""
    path = tmp_path / "prometheus"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    return path


@pytest.fixture
def worker_settings(metrics_dir):
    return {"PROMETHEUS_MULTIPROC_DIR": metrics_dir}


def attempts_in(counter_file):
    """crm_sync_attempts_total as one process's own file holds it (read alone)."""
    alone = counter_file.parent.parent / f"alone-{counter_file.stem}"
    alone.mkdir()
    shutil.copy(counter_file, alone)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(alone))
    return sum(sample.value for family in registry.collect() for sample in family.samples
               if sample.name == "crm_sync_attempts_total")


def test_one_scrape_adds_up_both_worker_processes_and_matches_the_sync_log(worker, ac_sandbox, metrics_dir,
                                                                           scrape):
    # Each AC request takes a while, so that both pool processes get some of the people.
    ac_sandbox.control.set_faults(latency_ms=150)
    event = EventFactory(name="PyCon Metrics", slug="pycon-metrics")
    for n in range(PEOPLE):
        BadgeFactory(user=UserFactory(email=f"attendee{n}@example.com"), event=event, confirmed=True)
    BadgeFactory(user=UserFactory(email="no-thanks@example.com", crm_opt_in=False), event=event, confirmed=True)

    def all_done():
        rows = SyncLog.objects.all()
        return rows.count() >= PEOPLE + 1 and not rows.filter(status__in=["queued", "running"]).exists()

    assert wait_for(all_done, timeout=90), worker.output()[-4000:]
    pool = worker.pool_pids()
    scraped = scrape()

    # What both processes recorded, added up, is what the SyncLog holds.
    rows = Counter((status, category or "none", "first" if attempt == 1 else "retry")
                   for status, category, attempt in SyncLog.objects.values_list("status", "error_category", "attempt"))
    counted = {(sample.labels["status"], sample.labels["category"], sample.labels["attempt"]): sample.value
               for sample in scraped.samples("crm_sync_attempts_total")}
    assert counted == rows
    assert scraped.total("crm_sync_attempts_total", status="success") >= PEOPLE
    assert scraped.total("crm_sync_attempts_total", status="skipped") == 1
    # One confirmation-to-contact time per person who reached AC, none for the one who declined.
    assert scraped.value("crm_sync_confirmation_to_contact_seconds_count") == PEOPLE
    assert 0 < scraped.value("crm_sync_confirmation_to_contact_seconds_sum") < 90 * PEOPLE
    # The requests counted are the requests the sandbox saw.
    seen = ac_sandbox.control.stats()["endpoints"]
    assert scraped.total("crm_sync_requests_total", method="POST", endpoint="contact/sync") \
        == seen["POST /contact/sync"] >= PEOPLE
    assert scraped.value("crm_sync_backlog") == 0
    assert scraped.value("crm_sync_oldest_queued_age_seconds") == 0
    last = SyncLog.objects.filter(status="success").latest("created_at", "pk").finished_at
    assert scraped.value("crm_sync_last_success_timestamp_seconds") == pytest.approx(last.timestamp())

    # Both pool processes took some, each in a file of its own (the node's
    # main process and its beat ran none).
    files = {int(re.search(r"_(\d+)\.db$", path.name).group(1)): path for path in metrics_dir.glob("counter_*.db")}
    per_process = {pid: attempts_in(path) for pid, path in files.items()}
    ran_some = {pid for pid, n in per_process.items() if n}
    assert len(ran_some) == 2 and ran_some <= set(worker.pool_pids()), (per_process, worker.pool_pids())
    assert sum(per_process.values()) == sum(counted.values())
