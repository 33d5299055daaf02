"""`scripts/start.sh`'s demo stops as a newcomer expects: Ctrl-C (SIGINT to
its process group, as a terminal sends it) or SIGTERM (systemd, docker)
stops the web app, the worker with its pool, and the sandbox within 5
seconds, leaving no process and no port behind."""
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_demo_stops_within_5_seconds_leaving_no_process_and_no_port(tmp_path, signum):
    ports = {"DEMO_WEB_PORT": free_port(), "DEMO_SANDBOX_PORT": free_port(), "DEMO_SANDBOX_CONTROL_PORT": free_port()}
    marker = f"sqlite:///{tmp_path}/demo.sqlite3"  # in every child's environment, and only theirs
    env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    env.update({key: str(port) for key, port in ports.items()},
               DATABASE_URL=marker, CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path / "broker"))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    demo = subprocess.Popen([sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output = wait_for_banner(demo)
        assert "Badge Maker is running" in output, output[-3000:]
        assert len(processes_with(marker)) >= 4  # demo, sandbox, web, worker (and its pool)

        asked = time.monotonic()
        os.killpg(demo.pid, signum) if signum == signal.SIGINT else demo.send_signal(signum)
        demo.wait(timeout=15)
        took = time.monotonic() - asked
        left_running = processes_with(marker)
        ports_left = [name for name, port in ports.items() if port_taken(port)]
    finally:
        for pid in processes_with(marker):  # so that a failure here leaves nothing behind either
            os.kill(pid, signal.SIGKILL)

    assert took < 5.0, f"the demo took {took:.1f}s to stop"
    assert demo.returncode == 0
    assert left_running == [] and ports_left == []
    print(f"\n{signal.Signals(signum).name}: everything stopped in {took:.1f}s")
