"""Real Celery worker processes for end-to-end tests, wired to the test
database, the configured broker and the AC sandbox through the environment."""
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url():
    """A DATABASE_URL for the database the tests are using right now."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def purge_broker():
    """Start from an empty queue: messages left by an earlier run would point at rows that no longer exist."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()
    elif url.startswith("filesystem"):
        for key in ("data_folder_in", "processed_folder"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key])
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)


class Worker:
    """`celery -A badgemaker worker` in a subprocess, its output in a log file."""

    def __init__(self, log_dir, env, concurrency=2, beat=False, name=None):
        self.name = name or f"e2e-{uuid.uuid4().hex[:6]}"
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self.env = env
        self.command = [
            sys.executable, "-m", "celery", "-A", "badgemaker", "worker", "--loglevel=INFO",
            f"--concurrency={concurrency}", "--pool=prefork", "--without-gossip", "--without-mingle",
            "-n", f"{self.name}@%h",
        ]
        if beat:
            self.command += ["--beat", "--schedule", str(Path(log_dir) / f"{self.name}-beat")]
        self.process = None

    def start(self, timeout=60):
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.output()[-3000:]}")
            if " ready." in self.output():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()[-3000:]}")

    def output(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout=20):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self._log.close()


def worker_env(sandbox, **extra):
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "ACTIVECAMPAIGN_URL": sandbox.url,
        "ACTIVECAMPAIGN_API_KEY": sandbox.api_key,
        "BADGEMAKER_PUBLIC_URL": "http://127.0.0.1:8000",
        "CRM_SYNC_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({key: str(value) for key, value in extra.items()})
    return env
