"""The health check with a real worker consuming crm_sync's queues: 200 and
every check "ok"; the worker stopped, 503 naming the workers."""
import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.processes import ROOT, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_with_a_worker_it_is_healthy_and_without_it_503(worker, client, ac_sandbox):
    response = client.get(reverse("crm_sync:health"))

    assert response.status_code == 200, response.content
    report = json.loads(response.content)
    assert report["status"] == "ok"
    assert list(report["checks"]) == ["database", "broker", "workers", "breaker", "queued_age", "sending"]
    assert all(check["status"] == "ok" and check["detail"] == "ok" for check in report["checks"].values())
    out = StringIO()
    call_command("crm_sync_status", "--check", stdout=out)  # exits 0: no SystemExit
    assert out.getvalue() == "ok\n"

    # As cron or a systemd timer runs it: a process of its own, with Django's system checks.
    as_cron = [sys.executable, "manage.py", "crm_sync_status", "--check"]
    ran = subprocess.run(as_cron, cwd=ROOT, env=worker_env(ac_sandbox), capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout) == (0, "ok\n"), ran.stderr
    # Cron mails whatever a job prints: kombu's "No hostname was supplied" (the filesystem
    # broker has no host) would reach someone's inbox at every run. The worker's log is spared it too.
    assert "No hostname was supplied" not in ran.stderr, ran.stderr
    assert "No hostname was supplied" not in worker.output()

    worker.stop()
    ran = subprocess.run(as_cron, cwd=ROOT, env=worker_env(ac_sandbox), capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1 and "workers:" in ran.stdout, (ran.stdout, ran.stderr)
    response = client.get(reverse("crm_sync:health"))

    assert response.status_code == 503
    assert json.loads(response.content)["checks"]["workers"]["status"] == "unhealthy"
