"""With `scripts/start.sh` running, each command in the README's "Operating
it" table, copied as printed into a second shell, works against the running
demo: a fresh environment (PATH and HOME only) in the checkout, the demo's
settings reaching the command through the `.env` the demo wrote. Once the
demo stops, `.env` stays, and a command that asks AC says at once that it
cannot reach it."""
import datetime
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from .conftest import free_port, in_a_second_shell, port_taken, processes_with

pytestmark = pytest.mark.e2e
# The variant a row names that leaves the running demo as it is, added to the printed command.
LEAVES_THE_DEMO_AS_IT_IS = {"resync_crm": "--dry-run", "purge_sync_logs": "--dry-run"}
# `crm_webhooks remove` would unplug the webhook that brings the sandbox's unsubscribes to the demo.
NOT_RUN = {"remove"}
# What each prints when it reached the running demo, its sandbox or its database.
REACHED = {
    "crm_sync_schema": "CRM account http://127.0.0.1:{sandbox_port},",
    "crm_sync_status": "Circuit breaker: closed",
    "resync_crm": "Dry run, nothing written",  # refused without the demo's AC account
    "crm_webhooks register": "Registered as wanted.",
    "crm_webhooks status": "Registered as wanted.",
    "crm_consent_pull": "Found 0 unsubscribes",
    "crm_reconcile": "Queued 0 people for sync.",  # the demo's database: the checkout's own has no tables
    "purge_sync_logs": "would delete 0 sync attempt(s)",
    "crm_sync_alerts": "No alert open.",  # the demo's AC is healthy
    "ac_sandbox": "(key from ACTIVECAMPAIGN_API_KEY)",  # a fresh shell has none: "no API key"
}


def readme_commands(checkout):
    """The first column of the README's "Operating it" table, as GitHub shows it."""
    section = (checkout / "README.md").read_text().split("\n## Operating it\n", 1)[1].split("\n## ", 1)[0]
    return [found.replace("\\|", "|") for found in re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)]


def as_run(printed, values):
    """`printed` with its placeholders given `values` and its other
    `[options]` left out: one command per alternative of `a|b|c`, but those NOT_RUN."""
    command = printed
    for placeholder, value in values.items():
        command = command.replace(placeholder, value)
    command = re.sub(r" \[[^]]*\]", "", command)
    head, _, last = command.rpartition(" ")
    return [f"{head} {choice}" for choice in last.split("|") if choice not in NOT_RUN] if "|" in last else [command]


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def run_a_second_sandbox(command, checkout):
    """Start `ac_sandbox`, wait until it answers, stop it with Ctrl-C; return (exit status, output)."""
    port = int(re.search(r"--port (\d+)", command).group(1))
    sandbox = in_a_second_shell(f"exec {command}", checkout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    try:
        deadline = time.monotonic() + 30
        while not answers(f"http://127.0.0.1:{port}/") and sandbox.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answers(f"http://127.0.0.1:{port}/"), "the sandbox did not answer within 30 s"
        os.killpg(sandbox.pid, signal.SIGINT)
        output, _ = sandbox.communicate(timeout=15)
    finally:
        if sandbox.poll() is None:
            os.killpg(sandbox.pid, signal.SIGKILL)
            sandbox.wait()
    assert not port_taken(port)
    return sandbox.returncode, output


def test_each_readme_command_works_as_printed_against_the_running_demo(demo, checkout, tmp_path):
    today = datetime.date.today().isoformat()
    # The second sandbox gets free ports and a data file of its own, as the README's row says to.
    sandbox_ports = free_port(), free_port()
    values = {"YYYY-MM-DD": today, "DAYS": "90", "[--port N]": f"--port {sandbox_ports[0]} --control-port "
              f"{sandbox_ports[1]} --db {tmp_path / 'second-sandbox.sqlite3'}"}
    printed = readme_commands(checkout)
    assert {command.split()[2] for command in printed} == {name.split()[0] for name in REACHED}, \
        "a row was added to or removed from the README's table: say here how it shows it reached the demo"

    banner = demo.start()
    assert "Badge Maker is running" in banner, banner[-3000:]
    assert "reach the demo (its settings are in .env)" in banner
    key = (checkout / "var" / "demo-api-key").read_text().strip()
    assert key not in banner
    ran = []
    for row in printed:
        assert row.startswith(".venv/bin/python manage.py "), row
        for command in as_run(row, values):
            name = command.split()[2]
            command += f" {LEAVES_THE_DEMO_AS_IT_IS[name]}" if name in LEAVES_THE_DEMO_AS_IT_IS else ""
            if name == "ac_sandbox":
                code, output = run_a_second_sandbox(command, checkout)
            else:
                done = in_a_second_shell(command, checkout)
                code, output = done.returncode, done.stdout + done.stderr
                name = " ".join(command.split()[2:4]) if name == "crm_webhooks" else name
            assert code == 0, f"{command}\n{output}"
            assert REACHED[name].format(sandbox_port=demo.ports["DEMO_SANDBOX_PORT"]) in output, f"{command}\n{output}"
            assert "not set" not in output and key not in output, f"{command}\n{output}"
            ran.append(name)
    assert sorted(ran) == sorted(REACHED)
    # A second shell writes its metrics where the demo's processes do, so they count in the demo's figures.
    probe = ("from crm_sync.metrics import multiprocess_dir; from prometheus_client import values; "
             "print(multiprocess_dir(), values.ValueClass.__name__)")
    seen = in_a_second_shell(f".venv/bin/python manage.py shell -c '{probe}'", checkout)
    assert seen.stdout.split()[-2:] == [str(demo.metrics_dir), "MmapedValue"], seen.stdout + seen.stderr

    os.killpg(demo.process.pid, signal.SIGINT)  # Ctrl-C in the demo's terminal
    demo.process.wait(timeout=15)
    assert demo.process.returncode == 0
    assert processes_with(demo.marker) == [] and demo.ports_taken() == []
    assert not any(port_taken(port) for port in sandbox_ports)

    # The demo stopped: .env stays, and a command that asks AC says it cannot reach it, at once.
    assert (checkout / ".env").exists()
    asked = time.monotonic()
    after = in_a_second_shell(".venv/bin/python manage.py crm_webhooks status", checkout)
    assert after.returncode == 1 and "could not reach AC" in after.stderr, after.stderr
    assert time.monotonic() - asked < 10
