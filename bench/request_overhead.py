"""What crm_sync adds to the request that confirms a badge.

    .venv/bin/python bench/request_overhead.py [--saves 400] [--only defaults|postgres]

The confirming save is what the confirmation view does: `badge.confirm()`
and `badge.save()` in `transaction.atomic()`, commit included (crm_sync's
on-commit hand-off runs there). Each configuration runs in its own process,
on a throwaway database:

- defaults: SQLite and the filesystem broker, as a fresh clone runs;
- postgres: PostgreSQL and Redis on loopback (POSTGRES_URL, REDIS_URL to
  override), as production runs.

In each, the same saves are timed with crm_sync's receivers connected and
disconnected, interleaved one by one so that both see the same machine, and
with the broker up, stopped (a closed port) and stalled (a server that
accepts connections and never answers). For scale, the median of a bare
INSERT of the outbox row (a SyncLog row, in the same kind of transaction).

The target: crm_sync's median cost (on minus off) is at most 1.3 times that
INSERT's median, in every mode: the request pays for the row, and nothing
waits for a broker.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.3
POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
BENCH_DB = "crm_sync_bench_request"


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


# -- the parent: one child process per configuration ---------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=400, help="saves timed per mode, on and off each (default 400)")
    parser.add_argument("--only", choices=["defaults", "postgres"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.saves)
    results = []
    for name in [args.only] if args.only else ["defaults", "postgres"]:
        with tempfile.TemporaryDirectory(prefix="crm-sync-bench-") as workdir:
            env = dict(os.environ, **configuration(name, Path(workdir)))
            out = subprocess.run([sys.executable, __file__, "--child", name, "--saves", str(args.saves)],
                                 env=env, cwd=ROOT, check=True, capture_output=True, text=True)
            results += [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
            if name == "postgres":
                drop_postgres_db()
    report(results)
    return 0 if all(r["ratio"] <= TARGET_RATIO for r in results) else 1


def configuration(name, workdir):
    common = {"DJANGO_SETTINGS_MODULE": "badgemaker.settings", "CRM_SYNC_LOG_LEVEL": "ERROR",
              "ACTIVECAMPAIGN_URL": "http://127.0.0.1:9/", "ACTIVECAMPAIGN_API_KEY": "bench-key-never-used"}
    if name == "defaults":
        return dict(common, DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}", CELERY_BROKER_URL="filesystem://",
                    CELERY_FILESYSTEM_BROKER_DIR=str(workdir / "broker"), CRM_SYNC_REDIS_URL="")
    create_postgres_db()
    return dict(common, DATABASE_URL=f"{POSTGRES_URL}/{BENCH_DB}", CELERY_BROKER_URL=REDIS_URL,
                CRM_SYNC_REDIS_URL=REDIS_URL)


def _psql(sql):
    subprocess.run(["psql", f"{POSTGRES_URL}/postgres", "-qc", sql], check=True, capture_output=True)


def create_postgres_db():
    drop_postgres_db()
    _psql(f"create database {BENCH_DB}")


def drop_postgres_db():
    _psql(f"drop database if exists {BENCH_DB} with (force)")


def report(results):
    print(f"{'configuration':<14}{'broker':<9}{'off p50':>9}{'on p50':>9}{'on p95':>9}{'off p95':>9}"
          f"{'on max':>9}{'added p50':>11}{'INSERT p50':>12}{'ratio':>7}   target ≤ {TARGET_RATIO}")
    for r in results:
        print(f"{r['configuration']:<14}{r['broker']:<9}{r['off_p50']:>7.2f}ms{r['on_p50']:>7.2f}ms"
              f"{r['on_p95']:>7.2f}ms{r['off_p95']:>7.2f}ms{r['on_max']:>7.1f}ms{r['added_p50']:>9.2f}ms{r['insert_p50']:>10.2f}ms"
              f"{r['ratio']:>7.2f}   {'ok' if r['ratio'] <= TARGET_RATIO else 'OVER'}")
    print("ms: milliseconds per confirming save (commit included); added = on p50 - off p50; "
          "ratio = added / INSERT p50")


# -- the child: one configuration ------------------------------------------------
def child(name, saves):
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings

    broker_up = settings.CELERY_BROKER_URL
    stalled = StallingServer()
    for broker, url in [("up", broker_up), ("stopped", f"redis://127.0.0.1:{closed_port()}/0"),
                        ("stalled", f"redis://127.0.0.1:{stalled.port}/0")]:
        with publishing_to(url):
            print(json.dumps(measure(name, broker, saves)), flush=True)
    stalled.close()
    return 0


def measure(name, broker, saves):
    from django.db import transaction
    from django.db.models.signals import post_save

    from crm_sync import outbox, signals
    from crm_sync.models import SyncLog

    people = make_people(f"{name}-{broker}", 2 * saves + 1)
    on, off, inserts = [], [], []
    for n in range(saves):
        for connected, times in ((True, on), (False, off)) if n % 2 else ((False, off), (True, on)):
            set_receivers(connected, post_save, signals)
            badge = people.pop()
            started = time.perf_counter()
            with transaction.atomic():
                badge.confirm()
                badge.save()
            times.append(time.perf_counter() - started)
        badge = people[-1]
        started = time.perf_counter()
        with transaction.atomic():
            SyncLog.objects.create(user_id=badge.user_id, badge=badge, email=badge.user.email)
        inserts.append(time.perf_counter() - started)
    set_receivers(True, post_save, signals)
    outbox.publisher.flush()
    outbox.publisher.down_until = 0.0
    ms = lambda values, share=0.5: 1000 * percentile(values, share)  # noqa: E731
    added = ms(on) - ms(off)
    return dict(configuration=name, broker=broker, on_p50=ms(on), on_p95=ms(on, 0.95), off_p50=ms(off),
                off_p95=ms(off, 0.95), on_max=ms(on, 1.0), added_p50=added, insert_p50=ms(inserts),
                ratio=round(added / ms(inserts), 2))


def set_receivers(connected, post_save, signals):
    from django.apps import apps

    from crm_sync.conf import record_model_label

    sender = apps.get_model(record_model_label())
    if connected:
        signals.connect()
    else:
        post_save.disconnect(sender=sender, dispatch_uid="crm_sync_record_saved")


def make_people(prefix, count):
    """Draft badges of people who opted in, each loaded as the view loads it."""
    from badgemaker.accounts.models import User
    from badgemaker.badges.models import Badge, Event

    event = Event.objects.create(slug=prefix, name=prefix, starts_on="2027-06-01")
    User.objects.bulk_create([
        User(email=f"{prefix}-{n}@example.com", username=f"{prefix}-{n}@example.com", first_name="Ada",
             last_name="Lovelace", crm_opt_in=True, password="!") for n in range(count)])
    users = User.objects.filter(email__startswith=f"{prefix}-")
    Badge.objects.bulk_create([Badge(user=user, event=event, badge_name="Ada") for user in users])
    return list(Badge.objects.filter(event=event).select_related("event"))


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StallingServer:
    """Accepts connections and never answers: a broker behind a dead NAT."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self):
        self.listener.close()
        for conn in self.held:
            conn.close()


class publishing_to:
    """This process's Celery app publishes to `url` (fresh connection pools)."""

    def __init__(self, url):
        self.url = url

    def _use(self, url):
        from kombu import pools

        from badgemaker.celery import app

        app.conf.broker_url = app.conf.broker_write_url = url
        if not url.startswith("filesystem://"):  # as badgemaker/settings.py sets them for Redis
            app.conf.broker_transport = None
            app.conf.broker_transport_options = {"socket_connect_timeout": 2, "socket_timeout": 5,
                                                 "max_retries": 1}
        pools.reset()
        app._pool, app.amqp._producer_pool = None, None

    def __enter__(self):
        from badgemaker.celery import app

        self.previous = (app.conf.broker_url, app.conf.broker_transport, app.conf.broker_transport_options)
        self._use(self.url)

    def __exit__(self, *exc):
        from badgemaker.celery import app

        self._use(self.previous[0])
        app.conf.broker_transport, app.conf.broker_transport_options = self.previous[1:]


if __name__ == "__main__":
    sys.exit(main())
