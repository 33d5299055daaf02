"""The crowd shape of bench/time_to_contact.py (`--crowd`): a burst of new
attendees with a steady stream of edits alongside, the burst switch on and
off. Each run is a fresh world in a child process (its own SQLite database,
filesystem broker, AC sandbox with AC's limits, and a `celery worker` with
beat), so one run's measured import times never leak into another's.
"""
import json
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
RUNS = {  # name: (switch on, the sandbox's import time in seconds)
    "on-10": (True, 10.0),
    "on-60": (True, 60.0),
    "off": (False, 10.0),
}
STEADY_PEOPLE = 10   # known attendees who edit their badge, one edit a second in turn
WORKER_PROCESSES = 8


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


def run_crowd(args):
    """Run each world in turn in a child process, then print the figures side by side."""
    results = {}
    for name in args.only or RUNS:
        command = [sys.executable, __file__, name, str(args.people), str(args.within), str(args.small)]
        print(f"[crowd] {name}: {args.people} new people within {args.within:g} s ...", flush=True)
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        print("\n".join(line for line in done.stdout.splitlines() if line.startswith("SLOW")))
        line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
        if line is None:
            print(done.stdout[-3000:], done.stderr[-3000:])
            raise SystemExit(f"the {name} run failed")
        results[name] = json.loads(line[len("RESULT "):])
        print(f"[crowd] {name}: {results[name]}", flush=True)
    print_table(results, args)


def print_table(results, args):
    where = "PostgreSQL + Redis" if os.environ.get("CROWD_POSTGRES") else "SQLite, filesystem broker"
    print(f"\ncrowd: {args.people} new people confirmed within {args.within:g} s, {STEADY_PEOPLE} known people "
          f"editing once a second alongside; sandbox with AC's limits (5 requests/s, importer 250 a request, "
          f"100 a minute); worker {WORKER_PROCESSES} processes with beat; {where}")
    header = (f"{'run':6} {'last in AC after last confirmation':>34} {'p50':>7} {'p95':>7} {'requests':>9} "
              f"{'in bulk':>8} {'batches':>8} {'import s':>9} {'steady p95':>11} {'end state':>10}")
    print(header)
    for name, r in results.items():
        imports = "/".join(f"{s:.0f}" for s in r["import_seconds"][:4]) or "-"
        print(f"{name:6} {r['last_after_last_confirmation']:>33.1f}s {r['p50']:>6.1f}s {r['p95']:>6.1f}s "
              f"{r['requests']:>9} {r['in_bulk']:>8} {r['batches']:>8} {imports:>9} {r['steady_p95']:>10.2f}s "
              f"{'ok' if r['end_state_ok'] else 'WRONG':>10}")
    if "on-10" in results and "off" in results:
        on, off = results["on-10"]["last_after_last_confirmation"], results["off"]["last_after_last_confirmation"]
        print(f"switch on (10 s imports) is {off / on:.1f} times sooner than off (target: at least 5; "
              f"the last within 120 s: {'yes' if on <= 120 else 'NO'})")
    for name, r in results.items():
        if "small" in r:
            small = r["small"]
            print(f"{name}: then {args.small} new people at once, imports measured at "
                  f"{small['decision']['bulk_seconds']:.0f} s (with collecting), backlog one by one "
                  f"{small['decision']['drain_seconds']:.0f} s: the switch chose "
                  f"{'bulk' if small['in_bulk'] else 'per person'} ({small['in_bulk']} in bulk, "
                  f"{small['per_person']} per person)")


# -- one world (the child process) -------------------------------------------------
def one_world(name, people, within, small):
    switch, import_seconds = RUNS[name]
    workdir = Path(tempfile.mkdtemp(prefix=f"crm-sync-crowd-{name}-"))
    sys.path.insert(0, str(ROOT))
    from crm_sync.sandbox.control import SandboxControl
    from crm_sync.sandbox.server import Sandbox

    sandbox = Sandbox(workdir / "ac.sqlite3", secrets.token_urlsafe(36)).start()
    if os.environ.get("CROWD_POSTGRES"):
        # PostgreSQL and Redis (what production runs), on the local services: a fresh database and Redis db.
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "crm_sync_crowd"], check=True)
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "crm_sync_crowd"], check=True)
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-n", "9", "flushdb"], check=True, capture_output=True)
        database, broker = "postgres://postgres@127.0.0.1:5432/crm_sync_crowd", "redis://127.0.0.1:6379/9"
    else:
        database, broker = f"sqlite:///{workdir / 'bench.sqlite3'}", "filesystem://"
    os.environ.update({
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "CELERY_FILESYSTEM_BROKER_DIR": str(workdir / "broker"),
        # At kombu's default of 1 s a full prefetch caps the pool at ~4 messages a second.
        "CELERY_FILESYSTEM_POLLING_INTERVAL": "0.1",
        "CRM_SYNC_REDIS_URL": broker if broker.startswith("redis") else "",
        "ACTIVECAMPAIGN_URL": sandbox.url,
        "ACTIVECAMPAIGN_API_KEY": sandbox.api_key,
        "CRM_SYNC_LOG_LEVEL": "WARNING",
        "CRM_SYNC_BURST_SWITCH": "true" if switch else "false",
        "DJANGO_SETTINGS_MODULE": "badgemaker.settings",
    })
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.db.models import Min

    from badgemaker.accounts.models import User
    from badgemaker.badges.models import Badge, Event
    from crm_sync import burst
    from crm_sync.models import ImportBatch, SyncLog

    control = SandboxControl(sandbox.control_url)
    control.set_faults(bulk_delay_seconds=import_seconds, bulk_seconds_per_contact=0)
    call_command("migrate", verbosity=0)
    worker_log = open(workdir / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "badgemaker", "worker", "-B", f"--concurrency={WORKER_PROCESSES}",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle",
         "-s", str(workdir / "beat-schedule")], cwd=ROOT, env=dict(os.environ), stdout=worker_log,
        stderr=subprocess.STDOUT)
    event = Event.objects.create(name="Crowd Con", slug="crowd-con", starts_on="2027-03-01")

    def confirm(email):
        with transaction.atomic():
            user = User.objects.create(username=email, email=email, password="!", first_name="Ada",
                                       last_name="Lovelace", phone="020 7946 0018", crm_opt_in=True)
            badge = Badge(user=user, event=event, badge_name=f"Ada {email[:12]}", dietary_preferences=["vegan"])
            badge.confirm()
            badge.save()

    def settled(emails, timeout):
        """Wait until each of `emails` has a finished last row; True if all have."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not SyncLog.objects.filter(email__in=emails, status__in=("queued", "running")).exists() and \
                    SyncLog.objects.filter(email__in=emails, status="success").values("email").distinct().count() \
                    >= len(emails):
                return True
            time.sleep(0.5)
        return False

    try:
        time.sleep(3)
        # The known attendees, synced before the crowd arrives.
        steady = [f"steady{n}@example.com" for n in range(STEADY_PEOPLE)]
        for email in steady:
            confirm(email)
        assert settled(steady, 120), "the steady people never synced"
        requests_before = control.stats()["total_requests"]

        stop = threading.Event()
        steady_rows = []

        def edit_once_a_second():
            n = 0
            while not stop.is_set():
                badge = Badge.objects.get(user__email=steady[n % STEADY_PEOPLE])
                badge.badge_name = f"Edit {n}"
                badge.save()
                steady_rows.append(SyncLog.objects.filter(user=badge.user).order_by("-id").values_list(
                    "pk", flat=True).first())
                n += 1
                stop.wait(1.0)

        editor = threading.Thread(target=edit_once_a_second, daemon=True)
        editor.start()
        crowd = [f"crowd{n}@example.com" for n in range(people)]
        started = time.monotonic()
        for n, email in enumerate(crowd):
            confirm(email)
            pause = started + (n + 1) * within / people - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        last_confirmed = time.time()
        all_in = settled(crowd, 30 * 60)
        stop.set()
        editor.join()
        requests_used = control.stats()["total_requests"] - requests_before

        first_row = dict(SyncLog.objects.filter(email__in=crowd).values("email").annotate(first=Min("created_at"))
                         .values_list("email", "first"))
        done_at = dict(SyncLog.objects.filter(email__in=crowd, status="success").values_list("email", "finished_at"))
        per_person = [(done_at[e] - first_row[e]).total_seconds() for e in crowd if e in done_at]
        last_done = max(done_at.values()).timestamp() if done_at else float("nan")
        steady_times = [(row.finished_at - row.created_at).total_seconds()
                        for row in SyncLog.objects.filter(pk__in=[pk for pk in steady_rows if pk], status="success")]
        slow = sorted(SyncLog.objects.filter(pk__in=[pk for pk in steady_rows if pk]),
                      key=lambda r: -((r.finished_at or r.created_at) - r.created_at).total_seconds())[:5]
        print("SLOW", [((r.started_at - r.created_at).total_seconds() if r.started_at else None,
                        (r.finished_at - r.started_at).total_seconds() if r.finished_at and r.started_at else None,
                        r.deliveries, r.api_calls, r.error_message[:80], r.status) for r in slow], flush=True)
        batches = list(ImportBatch.objects.filter(lane="burst", status="completed").order_by("queued_at"))

        # The end state in AC: one contact each, the right fields, tags and list status.
        contacts = {c["email"]: c for c in control.contacts()}
        wrong = [e for e in crowd if contacts.get(e, {}).get("fields", {}).get("BADGE_NAME") != f"Ada {e[:12]}"
                 or contacts[e]["lists"] != {"badge-maker-attendees": 1}
                 or sorted(contacts[e]["tags"]) != ["badge-maker", "event:crowd-con"]]
        one_success = all(SyncLog.objects.filter(email=e).order_by("-id").values_list("status", flat=True)[0]
                          == "success" for e in crowd)
        result = {
            "people": people, "all_in": all_in,
            "last_after_last_confirmation": round(last_done - last_confirmed, 1),
            "p50": round(statistics.median(per_person), 1) if per_person else None,
            "p95": round(percentile(per_person, 0.95), 1),
            "requests": requests_used,
            "in_bulk": SyncLog.objects.filter(email__in=crowd, status="success").exclude(batch_id="").count(),
            "batches": len(batches), "import_seconds": [round(b.import_seconds, 1) for b in batches],
            "steady_edits": len(steady_times), "steady_p95": round(percentile(steady_times, 0.95), 2),
            "end_state_ok": all_in and not wrong and one_success and len(contacts) == people + STEADY_PEOPLE,
        }
        if switch:
            later = [f"small{n}@example.com" for n in range(small)]
            small_started = time.time()
            for email in later:
                confirm(email)
            # The decision taken with the most of them waiting (the last one,
            # taken when they are nearly all through, would show a backlog of 1 or 2).
            first_decision, deadline = None, time.monotonic() + 5
            while time.monotonic() < deadline:
                decision = burst.latest_decision()
                if decision and decision["at"] >= small_started and (first_decision is None or decision["backlog"] > first_decision["backlog"]):
                    first_decision = decision
                time.sleep(0.05)
            settled(later, 300)
            result["small"] = {
                "decision": first_decision,
                "in_bulk": SyncLog.objects.filter(email__in=later).exclude(batch_id="").count(),
                "per_person": SyncLog.objects.filter(email__in=later, batch_id="", status="success").count(),
            }
        print("RESULT " + json.dumps(result), flush=True)
    finally:
        worker.terminate()
        worker.wait(30)
        sandbox.stop()
        if not os.environ.get("CROWD_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    one_world(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
