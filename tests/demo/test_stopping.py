"""`scripts/start.sh`'s demo stops as a newcomer expects: Ctrl-C (SIGINT to
its process group, as a terminal sends it) or SIGTERM (systemd, docker)
stops the web app, the worker with its pool, and the sandbox within 5
seconds, leaving no process and no port behind."""
import os
import signal
import time

import pytest

from .conftest import processes_with

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_demo_stops_within_5_seconds_leaving_no_process_and_no_port(demo, signum):
    output = demo.start()
    assert "Badge Maker is running" in output, output[-3000:]
    assert len(processes_with(demo.marker)) >= 4  # demo, sandbox, web, worker (and its pool)

    asked = time.monotonic()
    os.killpg(demo.process.pid, signum) if signum == signal.SIGINT else demo.process.send_signal(signum)
    demo.process.wait(timeout=15)
    took = time.monotonic() - asked

    assert took < 5.0, f"the demo took {took:.1f}s to stop"
    assert demo.process.returncode == 0
    assert processes_with(demo.marker) == [] and demo.ports_taken() == []
    print(f"\n{signal.Signals(signum).name}: everything stopped in {took:.1f}s")
