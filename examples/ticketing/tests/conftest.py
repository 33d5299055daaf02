"""Fixtures for the end-to-end test: the AC sandbox over real sockets and a
real `celery -A ticketing worker` process, both stopped whatever happens.

The worker is told everything through its environment: the test database
(DATABASE_URL), the broker (CELERY_BROKER_URL, and for the filesystem broker
CELERY_FILESYSTEM_BROKER_DIR, inherited) and the sandbox's URL and key.
"""
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from crm_sync.sandbox.control import SandboxControl
from crm_sync.sandbox.server import Sandbox

PROJECT_DIR = Path(__file__).resolve().parent.parent  # examples/ticketing
WORKER_READY_TIMEOUT = 60
WORKER_STOP_TIMEOUT = 20


def database_url():
    """A DATABASE_URL for the database this test run is using (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = quote(db.get("USER") or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def ac_sandbox(tmp_path):
    """The AC emulator on free loopback ports, with a random API key; `.control` reads what it holds."""
    api_key = secrets.token_urlsafe(36)
    sandbox = Sandbox(tmp_path / "ac-sandbox.sqlite3", api_key).start()
    sandbox.control = SandboxControl(sandbox.control_url)
    try:
        yield sandbox
    finally:
        sandbox.stop()


class Worker:
    """`python -m celery -A ticketing worker` in its own process group, its output in a file."""

    def __init__(self, log_path, env):
        self.log_path = log_path
        self.env = env
        self.process = None
        self._log = None

    def start(self):
        self._log = open(self.log_path, "wb")
        command = [
            sys.executable, "-m", "celery", "-A", "ticketing", "worker", "--loglevel=INFO",
            "--concurrency=2", "--pool=prefork", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"ticketing-e2e-{uuid.uuid4().hex[:6]}@%h",
        ]
        self.process = subprocess.Popen(command, cwd=PROJECT_DIR, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while " ready." not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited at start:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker was not ready after {WORKER_READY_TIMEOUT}s:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        return self

    def output(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        """SIGTERM (a warm shutdown), then SIGKILL the whole group if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(WORKER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self._log is not None:
            self._log.close()


@pytest.fixture
def worker(ac_sandbox, transactional_db, tmp_path, settings):
    """A worker started once the test database exists, on the same database and broker as this process."""
    from ticketing.celery import app

    settings.ACTIVECAMPAIGN_URL = ac_sandbox.url
    settings.ACTIVECAMPAIGN_API_KEY = ac_sandbox.api_key
    app.control.purge()  # messages left by an earlier run point at rows that no longer exist
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_DIR),
        "DJANGO_SETTINGS_MODULE": "ticketing.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "ACTIVECAMPAIGN_URL": ac_sandbox.url,
        "ACTIVECAMPAIGN_API_KEY": ac_sandbox.api_key,
        "PYTHONUNBUFFERED": "1",
    }
    process = Worker(tmp_path / "worker.log", env)
    try:
        yield process.start()
    finally:
        process.stop()
