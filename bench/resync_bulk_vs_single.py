"""Bulk resync against one by one, on the AC sandbox with AC's limits on.

    .venv/bin/python bench/resync_bulk_vs_single.py [--people 10000] [--single 300]

Sets Django up on a throwaway SQLite database in a temporary directory (or
on DATABASE_URL, if set: point it at a database you can throw away), starts
a Sandbox in this process on free ports with its defaults, which are AC's
limits (5 requests per second, 100 multi-contact and 20 single-contact bulk
imports per minute, importing modelled as bulk_delay_seconds plus
bulk_seconds_per_contact × N), and creates the people straight in the
database (no signals, so no live syncs). Then:

- `manage.py resync_crm` over the bulk people, in a subprocess, so that its
  peak memory (ru_maxrss of the children) is the bulk run's alone;
- the same people-to-contact work one by one (the live sync's path, as the
  command takes it for 10 people or fewer) over the single people, here.

Prints people per second for each, their ratio, the sandbox settings used
and the bulk run's peak memory.
"""
import argparse
import datetime
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 3, 10)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000, help="people resynced in bulk (default 10000)")
    parser.add_argument("--single", type=int, default=300, help="people resynced one by one (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args()


def setup_django(workdir, sandbox):
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "badgemaker.settings",
        "CELERY_BROKER_URL": "memory://",       # nothing is dispatched; never touch var/broker
        "CRM_SYNC_REDIS_URL": "",               # the limiter in the database, like the embedded setup
        "CRM_SYNC_RATE_LIMIT": "5",             # AC's 5 per second
        "CRM_SYNC_LOG_LEVEL": "WARNING",
        "ACTIVECAMPAIGN_URL": sandbox.url,
        "ACTIVECAMPAIGN_API_KEY": sandbox.api_key,
    })
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def create_people(count, slug):
    from django.utils import timezone

    from badgemaker.accounts.models import User
    from badgemaker.badges.models import Badge, Event

    event = Event.objects.create(slug=slug, name=slug.replace("-", " ").title(), starts_on="2026-06-01")
    confirmed = timezone.make_aware(datetime.datetime.combine(DAY, datetime.time(12)))
    for start in range(0, count, 1000):
        users = [User(email=f"{slug}-{n}@example.com", username=f"{slug}-{n}@example.com", first_name="Ada",
                      last_name=f"Lovelace {n}", phone="020 7946 0018", crm_opt_in=True, password="!",
                      twitter=f"@ada{n}", date_of_birth=datetime.date(1990, 1, 1) + datetime.timedelta(days=n % 5000))
                 for n in range(start, min(start + 1000, count))]
        User.objects.bulk_create(users)
        users = User.objects.filter(email__in=[user.email for user in users])
        Badge.objects.bulk_create([
            Badge(user=user, event=event, badge_name=f"Ada {user.pk}", status=Badge.Status.CONFIRMED,
                  confirmed_at=confirmed, dietary_preferences=["vegan"], volunteer_interests=["photography"],
                  dietary_requirements="No peanuts, please.")
            for user in users
        ])


def run_bulk(slug):
    """The command in a subprocess; returns (seconds, stdout, stderr, exit status)."""
    command = [sys.executable, str(ROOT / "manage.py"), "resync_crm", "--since", str(DAY), "--until", str(DAY),
               "--event", slug]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True)
    return time.monotonic() - started, done.stdout, done.stderr, done.returncode


def run_single(slug):
    from crm_sync.resync import Options, Resync

    started = time.monotonic()
    summary = Resync(Options(since=DAY, until=DAY, event=slug), one_by_one=True).run()
    return time.monotonic() - started, summary


def main():
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="resync-bench-"))
    sys.path.insert(0, str(ROOT))
    from crm_sync.sandbox.server import Sandbox

    sandbox = Sandbox(workdir / "ac-sandbox.sqlite3", secrets.token_urlsafe(36)).start()
    try:
        setup_django(workdir, sandbox)
        from django.db import connections

        settings_used = sandbox.faults.snapshot()
        print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}")
        print("sandbox: " + ", ".join(f"{key}={settings_used[key]}" for key in (
            "rate_limit_per_second", "bulk_multi_per_minute", "bulk_single_per_minute",
            "bulk_delay_seconds", "bulk_seconds_per_contact", "latency_ms")))
        started = time.monotonic()
        create_people(args.people, "bench-bulk")
        create_people(args.single, "bench-single")
        print(f"created {args.people} + {args.single} people in {time.monotonic() - started:.1f}s")
        connections.close_all()

        before = sandbox.recorder.stats()["total_requests"]
        bulk_seconds, out, err, status = run_bulk("bench-bulk")
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        bulk_stats = sandbox.recorder.stats()
        print(f"\n== bulk: manage.py resync_crm over {args.people} people (exit {status})")
        print(out.strip())
        if status != 0:
            print(err[-3000:])
        bulk_requests = bulk_stats["total_requests"] - before
        print(f"  sandbox: {bulk_requests} requests, max {bulk_stats['max_in_any_sliding_second']} in any second, "
              f"statuses {bulk_stats['statuses']}")

        sandbox.recorder.clear()
        single_seconds, summary = run_single("bench-single")
        single_stats = sandbox.recorder.stats()
        print(f"\n== one by one: {args.single} people through the live sync's attempt")
        print(f"  succeeded {summary.succeeded}, failed {len(summary.failed)}, requests {summary.requests}")
        print(f"  sandbox: {single_stats['total_requests']} requests, max {single_stats['max_in_any_sliding_second']} "
              f"in any second, statuses {single_stats['statuses']}")

        bulk_rate = args.people / bulk_seconds
        single_rate = args.single / single_seconds
        print("\n== results")
        print(f"  bulk:        {args.people} people in {bulk_seconds:.1f}s = {bulk_rate:.1f} people/s")
        print(f"  one by one:  {args.single} people in {single_seconds:.1f}s = {single_rate:.2f} people/s")
        print(f"  ratio:       {bulk_rate / single_rate:.0f}x (target >= 50x)")
        print(f"  bulk run peak memory (ru_maxrss of the subprocess): {peak_kb / 1024:.0f} MiB")
    finally:
        sandbox.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


if __name__ == "__main__":
    main()
