"""The AC API key is never written anywhere people or logs can read it.

A random 48-character key with `+`, `/` and `=` (so that URL-encoding changes
it) is searched for whole, by its first and last 8 characters, URL-encoded
and base64-encoded, in: the SyncLog rows (and every other crm_sync table), the
Celery task results (django_celery_results TaskResult rows), the output of the
worker, of beat, of the web server and of the sandbox, the HTML of every admin
page, and the texts of raised exceptions. The test fails if it finds the key,
and also if any of those sources is empty (an empty source proves nothing).

Real processes throughout: `manage.py ac_sandbox` and `manage.py runserver
--noreload` with the key in their environment, a Celery worker with beat
syncing badges confirmed through the web server (successes and an email AC
rejects), then a second worker holding a wrong key, also secret, that AC
refuses with 403."""
import base64
import os
import re
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
import traceback
from html import unescape
from types import SimpleNamespace
from urllib.parse import quote, quote_plus, urlsplit

import pytest
import requests
from django.apps import apps
from django.core import serializers
from django.test import Client
from django_celery_results.models import TaskResult

from badgemaker.accounts.models import User
from badgemaker.badges.models import Badge
from crm_sync.activecampaign.client import ActiveCampaignClient
from crm_sync.models import SyncLog
from crm_sync.sandbox.control import SandboxControl
from tests.badge_pages import PASSWORD, badge_form, signup_form
from tests.factories import EventFactory, UserFactory
from tests.processes import E2E_ENV, ROOT, Worker, purge_broker, wait_for, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

KEY_ALPHABET = string.ascii_letters + string.digits + "+/="
# Everything the workers log, and AC's real rate limit out of the way (the sandbox's is raised too).
WORKER_ENV = {"CRM_SYNC_LOG_LEVEL": "DEBUG", "CRM_SYNC_RATE_LIMIT": 1000}


def secret_key():
    """48 random characters including `+`, `/` and `=`, which URL-encoding changes."""
    while True:
        key = "".join(secrets.choice(KEY_ALPHABET) for _ in range(48))
        if all(ch in key for ch in "+/="):
            return key


def disguises(key):
    """Every form of `key` the test looks for."""
    raw = key.encode()
    return {
        "whole": key, "first 8": key[:8], "last 8": key[-8:],
        "URL-encoded": quote(key, safe=""), "URL-encoded (form)": quote_plus(key),
        "base64": base64.b64encode(raw).decode(), "base64 (URL-safe)": base64.urlsafe_b64encode(raw).decode(),
    }


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """A `manage.py` command in a subprocess, its stdout and stderr in one file."""

    def __init__(self, log_path, args, env):
        self.log_path, self.args, self.env = log_path, args, env
        self.process = None

    def start(self, ready, timeout=30):
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "manage.py", *self.args], cwd=ROOT, env=self.env,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.args[0]} exited at start:\n{self.output()[-3000:]}")
            try:
                if ready():
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.args[0]} not ready after {timeout}s:\n{self.output()[-3000:]}")

    def output(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.process is not None:
            self._log.close()


@pytest.fixture
def keys():
    return SimpleNamespace(real=secret_key(), wrong=secret_key())


@pytest.fixture
def sandbox_process(tmp_path, keys):
    port, control_port = free_port(), free_port()
    env = {**os.environ, "ACTIVECAMPAIGN_API_KEY": keys.real, "CRM_SYNC_LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1"}
    service = Service(tmp_path / "sandbox.log", [
        "ac_sandbox", "--port", str(port), "--control-port", str(control_port),
        "--db", str(tmp_path / "sandbox.sqlite3"), "--reset",
    ], env)
    control = SandboxControl(f"http://127.0.0.1:{control_port}")
    service.start(ready=lambda: control.faults())
    control.set_faults(rate_limit_per_second=1000)
    service.url, service.control, service.api_key = f"http://127.0.0.1:{port}", control, keys.real
    yield service
    service.stop()


@pytest.fixture
def web(tmp_path, transactional_db, sandbox_process, settings):
    settings.ACTIVECAMPAIGN_URL = sandbox_process.url
    settings.ACTIVECAMPAIGN_API_KEY = sandbox_process.api_key
    purge_broker()
    port = free_port()
    env = worker_env(sandbox_process, CRM_SYNC_LOG_LEVEL="DEBUG")
    service = Service(tmp_path / "web.log", ["runserver", "--noreload", f"127.0.0.1:{port}"], env)
    service.base = f"http://127.0.0.1:{port}"
    service.start(ready=lambda: requests.get(service.base + "/", timeout=2).status_code == 200)
    yield service
    service.stop()


def attend(base, event, email):
    """Sign up, fill in the badge page and confirm, over HTTP, against the web server."""
    browser = requests.Session()

    def post(path, data):
        browser.get(base + path, timeout=10)  # a CSRF cookie, as a browser would have
        data = {**data, "csrfmiddlewaretoken": browser.cookies.get("csrftoken")}
        response = browser.post(base + path, data=data, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text[:3000]

    post("/accounts/signup/", signup_form(email))
    post(f"/events/{event.slug}/badge/", badge_form(email, badge_name=f"Badge {email}", dietary_preferences=["vegan"],
                                                    volunteer_interests=[]))
    post(f"/events/{event.slug}/badge/confirm/", {})
    browser.get(base + "/no-such-page/", timeout=10)  # a 404 in the web log too


def latest(email):
    return SyncLog.objects.filter(email=email.lower()).order_by("-id").first()


def exception_texts(sandbox, keys, settings):
    """str, repr and traceback of what the client raises for 403, 422, timeout, refused and a missing key."""
    settings.CRM_SYNC = {**settings.CRM_SYNC, "CONNECT_TIMEOUT": 0.5, "READ_TIMEOUT": 0.5, "REDIS_URL": ""}
    texts, reports = [], []

    def capture(description, call):
        try:
            call()
        except Exception as error:
            texts.extend([description, str(error), repr(error), traceback.format_exc(), repr(vars(error)),
                          repr(error.__context__), "".join(traceback.format_exception(error, chain=True))])
            if error.__context__ is not None:
                texts.append("".join(traceback.format_exception(error.__context__)))
            return
        raise AssertionError(f"{description}: nothing was raised")

    def client(url=sandbox.url, key=keys.real):
        return ActiveCampaignClient(url, key, connect_timeout=0.5, read_timeout=0.5, on_request=reports.append)

    capture("403 (a wrong key)", lambda: client(key=keys.wrong).get("/contacts"))
    capture("422", lambda: client().post("/contact/sync", {"contact": {"email": "o'brien@example.com"}}))
    sandbox.control.set_faults(timeout_before_write_rate=1.0, timeout_seconds=2)
    capture("timeout", lambda: client().get("/contacts"))
    sandbox.control.set_faults(timeout_before_write_rate=0.0)
    capture("refused", lambda: client(url=f"http://127.0.0.1:{free_port()}").get("/contacts"))
    capture("no key", lambda: ActiveCampaignClient(sandbox.url, ""))
    texts.append(repr(reports))  # what the client reported of each request
    return "\n".join(texts)


def every_admin_page(limit=400):
    """The HTML of every admin page a superuser can reach by following links,
    plus each SyncLog row's detail and what-changed page, by name."""
    superuser = UserFactory(superuser=True, email="root@example.com", password=PASSWORD)
    client = Client()
    client.force_login(superuser)
    start = ["/admin/", "/admin/crm_sync/synclog/dashboard/"]
    for log in SyncLog.objects.all():
        start += [f"/admin/crm_sync/synclog/{log.pk}/change/", f"/admin/crm_sync/synclog/{log.pk}/changes/"]
    start += [f"/admin/badges/badge/{pk}/change/" for pk in Badge.objects.values_list("pk", flat=True)]
    start += [f"/admin/accounts/user/{pk}/change/" for pk in User.objects.values_list("pk", flat=True)]
    start += [f"/admin/django_celery_results/taskresult/{pk}/change/"
              for pk in TaskResult.objects.values_list("pk", flat=True)]
    queue, seen, pages, variants = list(start), set(), {}, {}
    while queue and len(pages) < limit:
        url = queue.pop(0)
        path = urlsplit(url).path
        if url in seen or "/logout/" in path or path.startswith("/admin/r/"):
            continue
        if urlsplit(url).query and variants.setdefault(path, 0) >= 3:
            continue  # a few filters per list are enough
        seen.add(url)
        variants[path] = variants.get(path, 0) + bool(urlsplit(url).query)
        response = client.get(url)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        pages[url] = html
        for link in re.findall(r'href="([^"#]*)', html):
            link = unescape(link)
            if link.startswith("?"):
                link = path + link
            if link.startswith("/admin/") and link not in seen:
                queue.append(link)
    return pages


def test_the_api_key_is_never_logged_stored_shown_or_raised(keys, sandbox_process, web, tmp_path, settings):
    sandbox = sandbox_process
    event = EventFactory(name="Key Con", slug="key-con", starts_on="2027-03-01")
    worker = Worker(tmp_path, worker_env(sandbox, **E2E_ENV, **WORKER_ENV), beat=True,
                    name="keys-beat").start()
    wrong_key_worker = None
    try:
        good = [f"attendee{n}@example.com" for n in range(3)]
        refused_email = "o'brien@example.com"  # AC rejects it: a 422 path
        for email in [*good, refused_email]:
            attend(web.base, event, email)
        done = wait_for(lambda: all(latest(e) and latest(e).status == "success" for e in good)
                        and latest(refused_email) and latest(refused_email).status == "failed", timeout=60)
        assert done, worker.output()[-4000:]
        assert latest(refused_email).error_category == "validation"
        assert wait_for(lambda: "Scheduler: Sending due task" in worker.output(), timeout=15), "beat never ran"
        worker.stop()

        # The same project with a key AC refuses (also a secret): the 403 path.
        wrong_key_worker = Worker(tmp_path, worker_env(SimpleNamespace(url=sandbox.url, api_key=keys.wrong),
                                                       **E2E_ENV, **WORKER_ENV),
                                  name="keys-wrong").start()
        attend(web.base, event, "refused-key@example.com")
        assert wait_for(lambda: latest("refused-key@example.com")
                        and "(403)" in latest("refused-key@example.com").error_message, timeout=30), (
            wrong_key_worker.output()[-4000:])
    finally:
        worker.stop()
        if wrong_key_worker:
            wrong_key_worker.stop()
    web.stop()

    texts = exception_texts(sandbox, keys, settings)
    pages = every_admin_page()
    sandbox.stop()
    crm_sync_tables = "\n".join(serializers.serialize("json", model.objects.all())
                                for model in apps.get_app_config("crm_sync").get_models())
    sources = {
        "SyncLog rows": serializers.serialize("json", SyncLog.objects.all()),
        "every crm_sync table": crm_sync_tables,
        "TaskResult rows (arguments, results, tracebacks)": serializers.serialize("json", TaskResult.objects.all()),
        "worker output": worker.output(),
        "beat output": "\n".join(line for line in worker.output().splitlines() if "beat" in line.lower()
                                 or "Scheduler" in line),
        "worker with the refused key, output": wrong_key_worker.output(),
        "web server output": web.output(),
        "sandbox output": sandbox.output(),
        "admin pages' HTML": "\n".join(pages.values()),
        "raised exceptions' texts": texts,
    }
    print(f"\nsearched {len(pages)} admin pages; source sizes: "
          + ", ".join(f"{name} {len(text)}" for name, text in sources.items()))

    empty = [name for name, text in sources.items() if not text.strip() or text.strip() == "[]"]
    assert not empty, f"these sources are empty, so they prove nothing: {empty}"
    for page in ("/admin/crm_sync/synclog/", "/admin/crm_sync/synclog/dashboard/"):
        assert page in pages
    assert all(f"/admin/crm_sync/synclog/{pk}/change/" in pages for pk in SyncLog.objects.values_list("pk", flat=True))

    found = [(source, f"{which} key, {form}")
             for which, key in (("the real", keys.real), ("the refused", keys.wrong))
             for form, needle in disguises(key).items()
             for source, text in sources.items() if needle in text]
    assert not found, f"the API key was found: {found}"
