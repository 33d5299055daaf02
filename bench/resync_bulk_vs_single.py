"""Bulk resync against AC's importer ceiling, and against one by one, on the AC sandbox with AC's limits on.

    .venv/bin/python bench/resync_bulk_vs_single.py [--sizes 10000,100000] [--single 300] [--import-seconds 2]
    DATABASE_URL=postgres://… .venv/bin/python bench/resync_bulk_vs_single.py --sizes 10000,100000

Sets Django up on a throwaway SQLite database in a temporary directory (or
on DATABASE_URL, if set: point it at a database you can throw away; each run
creates its own events and people in it), starts a Sandbox in this process
on free ports with its defaults, which are AC's limits (5 requests per
second, 100 multi-contact and 20 single-contact bulk imports per minute,
importing modelled as bulk_delay_seconds plus bulk_seconds_per_contact × N),
and creates the people straight in the database (no signals, so no live
syncs). Then, for each size:

- `manage.py resync_crm` over that many people, in a subprocess, as an
  operator runs it; its peak memory is that process's own high-water mark
  (VmHWM, read by the process as it exits: ru_maxrss would count this
  process's memory too, which the child had before it became Python again);

and once:

- the same people-to-contact work one by one (the live sync's path, as the
  command takes it for 10 people or fewer) over the `--single` people, here.

Prints, for each, people per minute, the ratio to AC's importer ceiling
(250 contacts a request × 100 requests a minute = 25,000 people a minute),
the bulk run's peak memory, the requests the sandbox saw, and the ratio of
bulk to one by one. A bulk run starts only once the importer's minute of the
run before it has passed, so each meets a fresh budget.
"""
import argparse
import datetime
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 3, 10)
# AC's bulk importer: 250 contacts a request, 100 multi-contact requests a minute (docs/activecampaign.md §7).
IMPORTER_CEILING = 250 * 100
IMPORTER_MINUTE = 61.0   # the command counts the importer's minute as 61 s
# Runs manage.py, then writes its own peak resident memory (kB) to BENCH_PEAK_FILE.
PEAK_WRAPPER = """
import os, re, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    with open("/proc/self/status") as status:
        peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(peak)
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000",
                        help="people resynced in bulk, one run per size, comma-separated (default 10000)")
    parser.add_argument("--people", type=int, help="one size (the same as --sizes N)")
    parser.add_argument("--single", type=int, default=300, help="people resynced one by one (default 300; 0 skips)")
    parser.add_argument("--import-seconds", type=float, default=None,
                        help="how long the sandbox takes to import a batch, before its per-contact time "
                             "(its bulk_delay_seconds; default 2.0): AC's own import is slower")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    args.sizes = [args.people] if args.people else [int(size) for size in args.sizes.split(",") if size.strip()]
    return args


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


def bulk_command(slug):
    return ["manage.py", "resync_crm", "--since", str(DAY), "--until", str(DAY), "--event", slug]


def run_bulk(slug, workdir):
    """The command in a subprocess: (seconds, stdout, stderr, exit status, peak MiB of that process)."""
    out_path, err_path, peak_path = (workdir / f"{slug}.{kind}" for kind in ("out", "err", "peak"))
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *bulk_command(slug)], cwd=ROOT,
                              env={**os.environ, "BENCH_PEAK_FILE": str(peak_path)}, stdout=out, stderr=err)
        seconds = time.monotonic() - started
    peak = int(peak_path.read_text()) / 1024 if peak_path.exists() else float("nan")
    return seconds, out_path.read_text(), err_path.read_text(), done.returncode, peak


def run_single(slug):
    from crm_sync.resync import Options, Resync

    started = time.monotonic()
    summary = Resync(Options(since=DAY, until=DAY, event=slug), one_by_one=True).run()
    return time.monotonic() - started, summary


def requests_seen(sandbox, since):
    """What the sandbox saw after log entry `since`: (requests, by status, most in any sliding second)."""
    entries = sandbox.recorder.log(since)
    statuses = {}
    for entry in entries:
        statuses[str(entry["status"])] = statuses.get(str(entry["status"]), 0) + 1
    times = sorted(entry["t"] for entry in entries if entry["status"] != 429)
    most, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return len(entries), statuses, most


def last_seq(sandbox):
    entries = sandbox.recorder.log()
    return entries[-1]["seq"] if entries else 0


def per_minute(people, seconds):
    return people * 60 / seconds if seconds else 0.0


def main():
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="resync-bench-"))
    sys.path.insert(0, str(ROOT))
    from crm_sync.sandbox.server import Sandbox

    sandbox = Sandbox(workdir / "ac-sandbox.sqlite3", secrets.token_urlsafe(36)).start()
    if args.import_seconds is not None:
        sandbox.set_faults({"bulk_delay_seconds": args.import_seconds})
    run = secrets.token_hex(3)   # a database kept between runs gets new events and people each time
    try:
        setup_django(workdir, sandbox)
        from django.db import connection, connections

        settings_used = sandbox.faults.snapshot()
        database = f"{connection.vendor} ({os.environ['DATABASE_URL'].split('@')[-1]})"
        machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}"
        print(f"database: {database}")
        print(f"machine:  {machine}")
        print("sandbox:  " + ", ".join(f"{key}={settings_used[key]}" for key in (
            "rate_limit_per_second", "bulk_multi_per_minute", "bulk_single_per_minute",
            "bulk_delay_seconds", "bulk_seconds_per_contact", "latency_ms")))
        started = time.monotonic()
        for size in args.sizes:
            create_people(size, f"bench-{run}-bulk-{size}")
        if args.single:
            create_people(args.single, f"bench-{run}-single")
        print(f"created {' + '.join(str(size) for size in [*args.sizes, args.single] if size)} people "
              f"in {time.monotonic() - started:.1f}s")
        connections.close_all()

        results, last_bulk_end = [], None
        for size in args.sizes:
            if last_bulk_end is not None and time.monotonic() - last_bulk_end < IMPORTER_MINUTE:
                pause = IMPORTER_MINUTE - (time.monotonic() - last_bulk_end)
                print(f"\n(waiting {pause:.0f}s: the importer's minute of the run before)")
                time.sleep(pause)
            slug = f"bench-{run}-bulk-{size}"
            since = last_seq(sandbox)
            seconds, out, err, status, peak = run_bulk(slug, workdir)
            last_bulk_end = time.monotonic()
            made, statuses, most = requests_seen(sandbox, since)
            print(f"\n== bulk: {' '.join(bulk_command(slug))}  ({size} people, exit {status})")
            print(out.strip())
            if status != 0:
                print(err[-3000:])
            print(f"  sandbox: {made} requests, statuses {statuses}, at most {most} accepted in any second")
            rate = per_minute(size, seconds)
            print(f"  {seconds:.1f}s, {rate:,.0f} people/min, {rate / IMPORTER_CEILING:.3f} of the importer's "
                  f"{IMPORTER_CEILING:,}/min, peak memory {peak:.0f} MiB")
            results.append(("bulk", size, seconds, peak, made, statuses))

        single = None
        if args.single:
            since = last_seq(sandbox)
            seconds, summary = run_single(f"bench-{run}-single")
            made, statuses, most = requests_seen(sandbox, since)
            print(f"\n== one by one: {args.single} people through the live sync's attempt")
            print(f"  succeeded {summary.succeeded}, failed {len(summary.failed)}, {seconds:.1f}s, "
                  f"{per_minute(args.single, seconds):,.1f} people/min")
            print(f"  sandbox: {made} requests, statuses {statuses}, at most {most} accepted in any second")
            single = ("one by one", args.single, seconds, None, made, statuses)

        print(f"\n== results ({database}; {machine})")
        print(f"  {'path':<11} {'people':>8} {'seconds':>8} {'people/min':>11} {'/ 25,000':>9} {'peak MiB':>9} "
              f"{'requests':>9}  {'statuses'}")
        for path, people, seconds, peak, made, statuses in [*results, *([single] if single else [])]:
            rate = per_minute(people, seconds)
            shown_peak = f"{peak:.0f}" if peak is not None else "-"
            print(f"  {path:<11} {people:>8,} {seconds:>8.1f} {rate:>11,.0f} {rate / IMPORTER_CEILING:>9.3f} "
                  f"{shown_peak:>9} {made:>9}  {statuses}")
        if single:
            single_rate = per_minute(single[1], single[2])
            for _, people, seconds, *_ in results:
                print(f"  bulk at {people:,} / one by one: {per_minute(people, seconds) / single_rate:,.0f}x")
    finally:
        sandbox.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


if __name__ == "__main__":
    main()
