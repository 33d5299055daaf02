"""What the demo tests share: `scripts/demo.py` started in a copy of the
checkout (it writes `.env` and `var/` where it runs, and a test must leave
the developer's alone), on free ports, with a private database and broker
folder whose path marks every process it starts, so that none is left behind."""
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What .gitignore keeps out of a checkout: the copy starts as a fresh clone does.
NOT_IN_A_CHECKOUT = shutil.ignore_patterns(".git", ".venv", "var", ".env", "artifacts", "media", "build",
                                           "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info",
                                           "celerybeat-schedule*")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_taken(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_with(marker):
    """Pids of this user's processes whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def wait_for_banner(demo, timeout=120):
    output, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline and b"Badge Maker is running" not in output:
        if demo.poll() is not None:
            break
        ready, _, _ = select.select([demo.stdout], [], [], 0.5)
        if ready:
            output += os.read(demo.stdout.fileno(), 65536)
    return output.decode(errors="replace")


def in_a_second_shell(command, checkout, env=(), **popen):
    """`command` typed into a new terminal in `checkout`: bash, with PATH and
    HOME only (and `env`). With `popen` arguments, the started Popen in a
    session of its own; otherwise the finished CompletedProcess, text."""
    fresh = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/"), **dict(env)}
    argv = ["env", "-i", *(f"{name}={value}" for name, value in fresh.items()), "bash", "-c", command]
    if popen:
        return subprocess.Popen(argv, cwd=checkout, start_new_session=True, **popen)
    return subprocess.run(argv, cwd=checkout, capture_output=True, text=True, timeout=120)


class Demo:
    """`scripts/demo.py` as `scripts/start.sh` runs it, in `checkout`."""

    def __init__(self, checkout, tmp_path):
        self.checkout = checkout
        self.ports = {"DEMO_WEB_PORT": free_port(), "DEMO_SANDBOX_PORT": free_port(),
                      "DEMO_SANDBOX_CONTROL_PORT": free_port()}
        self.marker = f"sqlite:///{tmp_path}/demo.sqlite3"  # in every child's environment, and only theirs
        self.env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
        # As scripts/start.sh sets it: one metrics directory for every process.
        self.metrics_dir = tmp_path / "prometheus"
        self.metrics_dir.mkdir()
        self.env.update({key: str(port) for key, port in self.ports.items()},
                        DATABASE_URL=self.marker, CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path / "broker"),
                        PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir))
        self.process = None

    def start(self):
        """Start it and return its output up to the banner."""
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=self.checkout,
                       env=self.env, check=True)
        self.process = subprocess.Popen([sys.executable, "scripts/demo.py"], cwd=self.checkout, env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        return wait_for_banner(self.process)

    def ports_taken(self):
        return [name for name, port in self.ports.items() if port_taken(port)]

    def kill_leftovers(self):
        """SIGKILL whatever it started that is still there (after a failure)."""
        for pid in processes_with(self.marker):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def checkout(tmp_path):
    """A copy of this checkout's files, edits included, whose `.venv` is the
    one running the tests (the checkout's, run as the README says)."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT, copy, ignore=NOT_IN_A_CHECKOUT)
    (copy / ".venv").symlink_to(sys.prefix)
    return copy


@pytest.fixture
def demo(checkout, tmp_path):
    """A Demo, not started yet; whatever it started is gone after the test."""
    demo = Demo(checkout, tmp_path)
    yield demo
    demo.kill_leftovers()
    if demo.process is not None and demo.process.poll() is None:
        demo.process.kill()
        demo.process.wait()
