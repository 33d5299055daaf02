"""The chaos suite's fixtures and its one end-state check.

Every scenario runs real `celery worker` nodes (tests/processes.py)
against PostgreSQL, Redis and the AC sandbox over sockets, breaks something,
and then checks the same end state, `assert_exactly_once`: every opted-in
person is in AC exactly once with the values the mapping makes of the
database, and the SyncLog has nothing left to do.

The knobs in CHAOS_ENV shrink production's minutes to CI's seconds; the soak
shapes with real durations are in docs/reliability.md.
"""
import os
import time
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef

from crm_sync.conf import crm_setting
from crm_sync.connection import make_backend
from crm_sync.mapping import build_contact_payload, crm_mapping
from crm_sync.models import SyncLog
from tests.factories import BadgeFactory, UserFactory
from tests.processes import Worker, purge_broker, worker_env

# CI-sized knobs: every recovery path (sweep, breaker probe, retry, lost
# attempt) converges in seconds instead of minutes.
CHAOS_ENV = {
    "CRM_SYNC_SWEEP_INTERVAL": 1,
    "CRM_SYNC_QUEUED_SWEEP_AFTER": 3,
    "CRM_SYNC_REDISPATCH_AFTER": 10,
    "CRM_SYNC_RUNNING_TIMEOUT": 15,
    "CRM_SYNC_BREAKER_RESET": 2,
    "CRM_SYNC_READ_TIMEOUT": 1,
    "CRM_SYNC_CONNECT_TIMEOUT": 1,
    "CRM_SYNC_RETRY_BACKOFF_BASE": 0.5,
    "CRM_SYNC_RETRY_BACKOFF_MAX": 3,
    # The sandbox's limit is raised too, except in the test of the limit itself.
    "CRM_SYNC_RATE_LIMIT": 1000,
    "CRM_SYNC_RECONCILE_INTERVAL": 3600,
    "CRM_SYNC_LOG_LEVEL": "WARNING",
}
# The soak shapes (docs/reliability.md) change these from the environment:
# CHAOS_SET_<NAME>=value overrides a knob, CHAOS_PEOPLE the people per scenario.
CHAOS_ENV.update({key[len("CHAOS_SET_"):]: value for key, value in os.environ.items() if key.startswith("CHAOS_SET_")})
PEOPLE = int(os.environ.get("CHAOS_PEOPLE", 200))
HUMAN_CATEGORIES = {"validation", "conflict"}
REPORT = []  # (scenario, figures) for the terminal summary


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("chaos scenarios")
        for name, figures in REPORT:
            terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def report(name, **figures):
    REPORT.append((name, figures))
    print(f"\n[chaos] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def require_postgres_and_redis():
    """Chaos needs the production pair. In CI it must run (the lead runs it in
    the PostgreSQL + Redis pass), so a missing service fails; elsewhere it skips."""
    vendor = connection.vendor
    broker = settings.CELERY_BROKER_URL.split(":", 1)[0]
    if vendor == "postgresql" and broker in ("redis", "rediss"):
        return
    why = (f"chaos suite runs in the PostgreSQL + Redis pass (database is {vendor}, broker is {broker}); "
           "set DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://...")
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


class Chaos:
    """One scenario's world: the sandbox, the worker nodes it started, a clock."""

    def __init__(self, sandbox, tmp_path):
        self.sandbox = sandbox
        self.control = sandbox.control
        self.tmp_path = tmp_path
        self.workers = []
        self.started = time.monotonic()

    def env(self, **extra):
        return worker_env(self.sandbox, **{**CHAOS_ENV, **extra})

    def workers_up(self, nodes=1, concurrency=2, beat=True, **env):
        """Start `nodes` worker nodes at once (beat on the first only) and wait until each is ready."""
        started = [
            Worker(self.tmp_path, self.env(**env), concurrency=concurrency, beat=beat and n == 0,
                   name=f"chaos{len(self.workers) + n}").launch()
            for n in range(nodes)
        ]
        for worker in started:
            worker.wait_ready()
        self.workers += started
        return started

    def elapsed(self):
        return round(time.monotonic() - self.started, 1)

    def logs(self, tail=3000):
        return "\n".join(f"--- {w.name}\n{w.output()[-tail:]}" for w in self.workers)


@pytest.fixture
def chaos(ac_sandbox, transactional_db, tmp_path, settings):
    require_postgres_and_redis()
    settings.ACTIVECAMPAIGN_URL = ac_sandbox.url
    settings.ACTIVECAMPAIGN_API_KEY = ac_sandbox.api_key
    ac_sandbox.control.set_faults(rate_limit_per_second=1000)
    purge_broker()  # also clears the limiter, locks and breaker state of earlier tests (same Redis db)
    world = Chaos(ac_sandbox, tmp_path)
    yield world
    for worker in world.workers:
        worker.stop()
    if os.environ.get("CRM_SYNC_SHOW_WORKER_LOG"):
        print(world.logs(20000))


# -- people ---------------------------------------------------------------------
def confirm_people(count, event, prefix="person", opted_out_every=25, **badge_fields):
    """Create `count` people, each with a badge confirmed the way the
    confirmation view does it (the save queues the sync on commit). Every
    `opted_out_every`-th person did not opt in. Returns the people."""
    people = []
    for n in range(count):
        user = UserFactory(
            email=f"{prefix}{n}@Example.com", first_name=f"Ada{n}", last_name="Lovelace", phone="020 7946 0018",
            date_of_birth="1990-12-10", twitter=f"@ada{n}", emergency_contact_name="Charles",
            emergency_contact_phone="07911 123456", crm_opt_in=bool(n % opted_out_every) if opted_out_every else True,
        )
        BadgeFactory(user=user, event=event, badge_name=f"Badge {prefix}{n}", dietary_preferences=["vegan", "halal"],
                     volunteer_interests=["photography"], dietary_requirements="No peanuts", confirmed=True,
                     **badge_fields)
        people.append(user)
    return people


# -- waiting and the end state -----------------------------------------------------
def waiting_for_retry():
    """Failed rows that still expect a retry: retry_at set and no later row for the person."""
    later = SyncLog.objects.filter(user_id=OuterRef("user_id"), pk__gt=OuterRef("pk"))
    return SyncLog.objects.filter(status=SyncLog.Status.FAILED, retry_at__isnull=False).filter(~Exists(later))


def unsettled():
    return (SyncLog.objects.filter(status__in=[SyncLog.Status.QUEUED, SyncLog.Status.RUNNING]).count()
            + waiting_for_retry().count())


def wait_until_settled(timeout, what="", on_error=None):
    """Wait until the SyncLog has nothing left to do (twice in a row, half a
    second apart, so the gap between a failed row and its retry's row is not
    mistaken for the end). Returns the seconds waited."""
    started = time.monotonic()
    calm = 0
    while time.monotonic() - started < timeout:
        try:
            calm = calm + 1 if unsettled() == 0 else 0
        except Exception:  # the scenario broke the database on purpose; try again
            if on_error is None:
                raise
            on_error()
            calm = 0
        if calm >= 2:
            return time.monotonic() - started
        time.sleep(0.5)
    counts = dict(Counter(SyncLog.objects.values_list("status", flat=True)))
    raise AssertionError(f"not settled after {timeout}s {what}: rows by status {counts}, "
                         f"{waiting_for_retry().count()} failed rows awaiting a retry")


def _latest_rows():
    latest = {}
    for row in SyncLog.objects.order_by("pk"):
        latest[row.user_id] = row
    return latest


def assert_exactly_once(control, users, rejected=()):
    """The end state every scenario checks ("in AC exactly once").

    AC (the sandbox's dump): every opted-in person in `users` but not in
    `rejected` is exactly one contact (emails compared case-insensitively),
    with no tag twice, one subscription to the list, and names, phone and
    custom fields equal to what the mapping makes of the database now; and
    no other contact exists. SyncLog: nothing queued or running, no failed
    row still waiting for its retry, every person's latest row `success` or
    `skipped`, except the `rejected` people, whose latest row is `failed`
    with a category that needs a human. Duplicate HTTP calls are allowed;
    duplicate effects are not.
    """
    problems = []
    rejected_ids = {user.pk for user in rejected}
    mapping = crm_mapping()
    list_stringid = crm_setting("LIST_STRINGID")
    perstags = {spec.perstag for spec in mapping.fields}

    # -- SyncLog --------------------------------------------------------------
    open_rows = list(SyncLog.objects.filter(status__in=["queued", "running"]).values_list("pk", "status")[:5])
    if open_rows:
        problems.append(f"rows still open: {open_rows}")
    awaiting = list(waiting_for_retry().values_list("pk", "error_category")[:5])
    if awaiting:
        problems.append(f"failed rows still waiting for a retry: {awaiting}")
    latest = _latest_rows()
    for user in users:
        row = latest.get(user.pk)
        if row is None:
            problems.append(f"{user.email}: no SyncLog row at all")
        elif user.pk in rejected_ids:
            if row.status != "failed" or row.error_category not in HUMAN_CATEGORIES:
                problems.append(f"{user.email}: latest row {row.pk} is {row.status}/{row.error_category}, "
                                "expected failed with a category that needs a human")
        elif row.status not in ("success", "skipped"):
            problems.append(f"{user.email}: latest row {row.pk} is {row.status}/{row.error_category}: "
                            f"{row.error_message[:200]}")

    # -- AC ---------------------------------------------------------------------
    contacts = control.contacts()
    by_email = Counter(contact["email"].lower() for contact in contacts)
    twice = sorted(email for email, n in by_email.items() if n > 1)
    if twice:
        problems.append(f"{len(twice)} emails are more than one contact: {twice[:5]}")
    dump = {contact["email"].lower(): contact for contact in contacts}
    expected = {}
    account = make_backend(offline=True)  # choices as the option values the account holds
    for user in users:
        user.refresh_from_db()
        if user.pk in rejected_ids or not mapping.is_opted_in(user):
            continue
        payload = build_contact_payload(mapping.load(user), mapping)
        account.fit(payload)
        expected[payload.email] = payload
    if set(dump) != set(expected):
        problems.append(f"contacts in AC that should not be: {sorted(set(dump) - set(expected))[:5]}; "
                        f"missing from AC: {sorted(set(expected) - set(dump))[:5]}")
    for email, payload in expected.items():
        contact = dump.get(email)
        if contact is None:
            continue
        for key in ("firstName", "lastName", "phone"):
            if (contact.get(key) or "") != payload.contact.get(key, ""):
                problems.append(f"{email}: {key} is {contact.get(key)!r}, expected {payload.contact.get(key)!r}")
        fields = {key: value for key, value in (contact.get("fields") or {}).items() if key in perstags and value}
        if fields != payload.fields:
            wrong = {key: (fields.get(key), payload.fields.get(key))
                     for key in set(fields) | set(payload.fields) if fields.get(key) != payload.fields.get(key)}
            problems.append(f"{email}: fields differ (AC, expected): {wrong}")
        tags = [tag.lower() for tag in contact.get("tags") or []]
        if len(tags) != len(set(tags)):
            problems.append(f"{email}: a tag attached twice: {sorted(tags)}")
        if sorted(set(tags)) != sorted(tag.lower() for tag in payload.tags):
            problems.append(f"{email}: tags {sorted(tags)}, expected {payload.tags}")
        if contact.get("lists") != {list_stringid: 1}:
            problems.append(f"{email}: lists {contact.get('lists')}, expected {{{list_stringid!r}: 1}}")

    if problems:
        shown = "\n  ".join(problems[:30])
        raise AssertionError(f"not exactly once ({len(problems)} problems):\n  {shown}")
    return dump


# -- what the sandbox saw -------------------------------------------------------------
def last_seq(control):
    """The sandbox log's latest sequence number (0 if empty)."""
    log = control.log()
    return log[-1]["seq"] if log else 0


def sandbox_port(sandbox):
    return int(sandbox.url.rsplit(":", 1)[1].split("/")[0])


# Clean runs' durations this session, for scenario 8's comparison.
CLEAN_RUNS = []


def clean_run(event, count=None, prefix="clean"):
    """Confirm `count` people with no fault and wait until they settle.
    Returns (seconds, people) and remembers the seconds."""
    started = time.monotonic()
    people = confirm_people(count or PEOPLE, event, prefix=prefix)
    wait_until_settled(120 * (count or PEOPLE) / 200, "(clean run)")
    seconds = time.monotonic() - started
    CLEAN_RUNS.append(seconds)
    return seconds, people
