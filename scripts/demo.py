"""Start everything a newcomer needs on the embedded defaults: the AC
sandbox, the web app, and a Celery worker with beat, wired together through
the environment this script sets. The same settings go to the checkout's
`.env`, so that the README's commands run in another shell reach the demo
(tests/demo/test_readme_commands.py). Ctrl-C or SIGTERM stops them all
within a few seconds, leaving no process behind (tests/demo/test_stopping.py).

Run it through `scripts/start.sh`, which sets up the virtualenv first.
"""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WEB_PORT = int(os.environ.get("DEMO_WEB_PORT", 8000))
SANDBOX_PORT = int(os.environ.get("DEMO_SANDBOX_PORT", 8100))
CONTROL_PORT = int(os.environ.get("DEMO_SANDBOX_CONTROL_PORT", 8101))
KEY_FILE = ROOT / "var" / "demo-api-key"
WEBHOOK_TOKEN_FILE = ROOT / "var" / "demo-webhook-token"
ENV_FILE = ROOT / ".env"
ENV_FILE_HEADER = "# Written by scripts/start.sh"
# Passed on to .env when the demo was started with them, so that another shell
# reaches the same database and broker, and writes its metrics where the demo's
# processes do (scripts/start.sh sets PROMETHEUS_MULTIPROC_DIR for them): a
# resync run from there counts in the demo's /crm/metrics/.
PASSED_ON = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_FILESYSTEM_BROKER_DIR", "PROMETHEUS_MULTIPROC_DIR")
# How long the children get to stop after SIGTERM before they are killed:
# the whole demo stops within 5 s.
STOP_GRACE_SECONDS = 3.0


class Stop(Exception):
    """SIGTERM (systemd, docker, a test): stop everything as Ctrl-C does."""


def stop_on_sigterm(signum, frame):
    raise Stop()


def port_taken(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status < 500
    except OSError:
        return False


def demo_secret(path):
    # One random secret per checkout, kept in var/ (git-ignored) and never printed.
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(36))
    return path.read_text().strip()


def write_env_file(settings):
    """Write the demo's settings to the checkout's .env (read by
    badgemaker/settings.py), unless a .env the demo did not write is there:
    that one is someone's own configuration. Returns whether it was written.

    The file stays when the demo stops: a command run then finds the
    sandbox gone and says AC cannot be reached. Only the owner may read it
    (it holds the demo's API key); it is git-ignored."""
    if ENV_FILE.exists() and not ENV_FILE.read_text().startswith(ENV_FILE_HEADER):
        return False
    lines = [f"{ENV_FILE_HEADER} at each start: the running demo's settings, read by commands run",
             "# from this checkout (README, \"Operating it\"). Delete it to go back to the defaults.",
             *(f"{name}={value}" for name, value in settings.items())]
    with os.fdopen(os.open(ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write("\n".join(lines) + "\n")
    return True


def main():
    # Ctrl-C must stop the demo even when it was started with SIGINT ignored
    # (by a shell's background job, as CI starts it): Python then leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    taken = [f"{name} port {port}" for name, port in
             (("web", WEB_PORT), ("sandbox", SANDBOX_PORT), ("sandbox control", CONTROL_PORT)) if port_taken(port)]
    if taken:
        print(f"Cannot start: {', '.join(taken)} already in use on 127.0.0.1. Stop whatever uses it, or set "
              "DEMO_WEB_PORT / DEMO_SANDBOX_PORT / DEMO_SANDBOX_CONTROL_PORT.", file=sys.stderr)
        return 1
    settings = {
        "ACTIVECAMPAIGN_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
        "ACTIVECAMPAIGN_API_KEY": demo_secret(KEY_FILE),
        # The sandbox posts its webhooks (an unsubscribe clicked on its page) back to the web app.
        "CRM_SYNC_WEBHOOK_TOKENS": demo_secret(WEBHOOK_TOKEN_FILE),
        "BADGEMAKER_PUBLIC_URL": f"http://127.0.0.1:{WEB_PORT}",
        **{name: os.environ[name] for name in PASSED_ON if name in os.environ},
    }
    if write_env_file(settings):
        commands_note = f"Commands run from {ROOT} in another shell reach the demo (its settings are in .env):"
    else:
        commands_note = ("Your own .env was left as it is: commands run in another shell use it, not the demo's "
                         "settings.\nMove it aside and start again for them to reach the demo:")
    env = {**os.environ, **settings, "PYTHONUNBUFFERED": "1"}
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    logs = ROOT / "var" / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    commands = {
        "sandbox": [PYTHON, "manage.py", "ac_sandbox", "--port", str(SANDBOX_PORT),
                    "--control-port", str(CONTROL_PORT)],
        "web": [PYTHON, "manage.py", "runserver", f"127.0.0.1:{WEB_PORT}", "--noreload"],
        "worker": [PYTHON, "-m", "celery", "-A", "badgemaker", "worker", "--beat", "--loglevel=INFO",
                   "--concurrency=2", "--schedule", str(ROOT / "var" / "celerybeat-schedule")],
    }
    processes = {}
    try:
        for name, command in commands.items():
            log = open(logs / f"{name}.log", "ab")
            processes[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True)
        checks = {
            "sandbox": lambda: answers(f"http://127.0.0.1:{SANDBOX_PORT}/"),
            "web": lambda: answers(f"http://127.0.0.1:{WEB_PORT}/"),
            "worker": lambda: " ready." in (logs / "worker.log").read_text(errors="replace"),
        }
        deadline = time.monotonic() + 90
        waiting = set(checks)
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                if processes[name].poll() is not None:
                    print(f"{name} stopped while starting; see {logs / (name + '.log')}", file=sys.stderr)
                    return 1
                if checks[name]():
                    waiting.discard(name)
            time.sleep(0.3)
        if waiting:
            print(f"{', '.join(sorted(waiting))} did not answer within 90 s; see {logs}", file=sys.stderr)
            return 1
        # As an operator would (docs/webhooks.md); registering again leaves one webhook.
        subprocess.run([PYTHON, "manage.py", "crm_webhooks", "register"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"""
Badge Maker is running (Ctrl-C stops everything).

  Badge Maker        http://127.0.0.1:{WEB_PORT}/
  Django admin       http://127.0.0.1:{WEB_PORT}/admin/   admin@example.com / badgemaker-demo
  Sync attempts      http://127.0.0.1:{WEB_PORT}/admin/crm_sync/synclog/
  AC sandbox         http://127.0.0.1:{SANDBOX_PORT}/   (the contacts "ActiveCampaign" holds)
  Logs               {logs}/

{commands_note}
  .venv/bin/python manage.py crm_sync_status   (and the README's other commands)
""", flush=True)
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        stopped = [name for name, process in processes.items() if process.poll() is not None]
        print(f"{', '.join(stopped)} stopped; see {logs}. Stopping the rest.", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stop):
        print("\nStopping…", flush=True)
        return 0
    finally:
        stop_all(processes.values())


def stop_all(processes):
    """SIGTERM to each child's process group (the worker's pool too), then
    SIGKILL to any still there after STOP_GRACE_SECONDS."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut this short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the group may outlive its leader (pool children)
        except ProcessLookupError:
            pass
        process.wait()


if __name__ == "__main__":
    sys.exit(main())
