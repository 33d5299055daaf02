"""Time from a badge's confirmation to its contact in AC, with AC healthy.

    .venv/bin/python bench/time_to_contact.py [--badges 30] [--gap 1.5] [--burst 20]

The target is 5 seconds per badge when AC is healthy. This starts, on a
throwaway SQLite database and filesystem broker (the embedded defaults), an
AC sandbox with AC's own limits (5 requests per second), and a real
`celery worker` (2 processes); then it confirms badges the way the
confirmation view does (save in a transaction; the signal queues the sync on
commit), and waits for each contact's last step (its list subscription) in
the sandbox.

Two shapes: a steady stream (`--badges` badges, one every `--gap` seconds,
as attendees arrive) and a burst (`--burst` badges at once, where AC's
5 requests per second is the bound). Prints median, 95th percentile and
maximum, the share under 5 s, and the ratio of the median to the target.

    .venv/bin/python bench/time_to_contact.py --crowd [--people 1000] [--within 60]
    CROWD_POSTGRES=1 .venv/bin/python bench/time_to_contact.py --crowd   # the same on PostgreSQL + Redis

The crowd: `--people` new attendees confirm within `--within` seconds (the
"make your badge" email went out), while known attendees edit their badge
once a second (the steady stream). Run three times, each in a fresh world:
the burst switch on with the sandbox importing in 10 s, on with imports of
60 s, and off. Each prints the time from the last confirmation until every
contact is in AC, p50/p95 per person, the AC requests used, what the switch
chose (people in bulk, batches and their import times), the steady
stream's p95, and the end state checked in the sandbox. Then, in the same
world, a small backlog (`--small`, 30 people at once) shows the switch
deciding from the import times it measured: bulk at 10 s, per person at 60 s.
"""
import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 5.0


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--badges", type=int, default=30)
    parser.add_argument("--gap", type=float, default=1.5)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--crowd", action="store_true", help="the crowd shape, switch on and off (see above)")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--within", type=float, default=60.0)
    parser.add_argument("--small", type=int, default=30)
    parser.add_argument("--only", choices=("on-10", "on-60", "off"), action="append",
                        help="run only these of the crowd's three runs")
    args = parser.parse_args()
    if args.crowd:
        from crowd import run_crowd  # bench/crowd.py, beside this file
        run_crowd(args)
        return

    workdir = Path(tempfile.mkdtemp(prefix="crm-sync-bench-"))
    sys.path.insert(0, str(ROOT))
    from crm_sync.sandbox.control import SandboxControl
    from crm_sync.sandbox.server import Sandbox

    sandbox = Sandbox(workdir / "ac.sqlite3", secrets.token_urlsafe(36)).start()
    os.environ.update({
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_BROKER_DIR": str(workdir / "broker"),
        "CRM_SYNC_REDIS_URL": "",
        "ACTIVECAMPAIGN_URL": sandbox.url,
        "ACTIVECAMPAIGN_API_KEY": sandbox.api_key,
        "CRM_SYNC_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "badgemaker.settings",
    })
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from badgemaker.accounts.models import User
    from badgemaker.badges.models import Badge, Event

    call_command("migrate", verbosity=0)
    worker_log = open(workdir / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "badgemaker", "worker", "--concurrency=2", "--loglevel=WARNING",
         "--without-gossip", "--without-mingle"], cwd=ROOT, env=dict(os.environ), stdout=worker_log,
        stderr=subprocess.STDOUT)
    control = SandboxControl(sandbox.control_url)
    event = Event.objects.create(name="Bench Con", slug="bench-con", starts_on="2027-03-01")

    def confirm(email):
        user = User.objects.create_user(username=email, email=email, password="x" * 12, first_name="Ada",
                                        last_name="Lovelace", phone="020 7946 0018", crm_opt_in=True)
        with transaction.atomic():
            badge = Badge(user=user, event=event, badge_name="Ada", dietary_preferences=["vegan"])
            badge.confirm()
            badge.save()
        return time.monotonic()

    def watch(started, done, until):
        """Record when each contact's last step shows up, while badges are still being confirmed."""
        while len(done) < until["count"] and time.monotonic() < until["deadline"]:
            seen = time.monotonic()
            for contact in control.contacts():
                email = contact["email"]
                if email in started and contact["lists"] and email not in done:
                    done[email] = seen - started[email]
            time.sleep(0.05)

    def run_shape(emails, gap):
        started, done = {}, {}
        until = {"count": len(emails), "deadline": time.monotonic() + 300}
        watcher = threading.Thread(target=watch, args=(started, done, until))
        watcher.start()
        for email in emails:
            started[email] = confirm(email)
            time.sleep(gap)
        watcher.join()
        return done


    try:
        time.sleep(3)  # let the worker come up; the first badge also loads AC's catalog
        run_shape(["warm-up@example.com"], 0)
        steady_times = list(run_shape([f"steady{n}@example.com" for n in range(args.badges)], args.gap).values())
        burst_times = list(run_shape([f"burst{n}@example.com" for n in range(args.burst)], 0).values())
    finally:
        worker.terminate()
        worker.wait(20)
        sandbox.stop()

    print("sandbox: AC's limits (5 requests/s), "
          "no injected faults; worker: 2 processes; database SQLite, broker filesystem")
    for name, times, expected in (("steady", steady_times, args.badges), ("burst", burst_times, args.burst)):
        if len(times) < expected:
            print(f"{name}: only {len(times)} of {expected} contacts arrived")
            continue
        median = statistics.median(times)
        print(f"{name:6} {expected:3} badges: median {median:.2f}s, p95 {percentile(times, 0.95):.2f}s, "
              f"max {max(times):.2f}s, under 5 s: {sum(t < TARGET for t in times) / len(times):.0%}, "
              f"median/target {median / TARGET:.2f}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
