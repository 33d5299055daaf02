"""The read-only HTML page, the ``ac_sandbox`` command, and Sandbox basics."""

import pathlib
import socket
import subprocess
import sys

import pytest
import requests

from crm_sync.sandbox.server import Sandbox

MANAGE_PY = pathlib.Path(__file__).resolve().parents[2] / "manage.py"


def test_empty_page_says_so_and_explains_the_opt_in(ac_sandbox):
    for base in (ac_sandbox.url, ac_sandbox.control_url):
        page = requests.get(base + "/", timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "No contacts yet" in page.text
        assert "ticked the opt-in box" in page.text
        assert "Hidden in AC" not in page.text  # every seeded field is related and every list grouped


def test_page_escapes_every_value(ac_sandbox, api, catalog):
    script = "<script>alert(1)</script>"
    api.sync(email="x@example.com", firstName=script,
             fieldValues=[{"field": catalog.field("BADGE_NAME")["id"], "value": script}])
    api.post("/tags", json={"tag": {"tag": script}})
    page = requests.get(ac_sandbox.url + "/", timeout=5).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "BADGE_NAME" in page and "x@example.com" in page


def test_sandbox_refuses_a_taken_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            Sandbox(tmp_path / "db.sqlite3", "key", port=port).start()


def test_sandbox_state_survives_a_restart(tmp_path):
    first = Sandbox(tmp_path / "db.sqlite3", "key", seed=3).start()
    requests.post(first.api_url + "/contact/sync", json={"contact": {"email": "kept@example.com"}},
                  headers={"Api-Token": "key"}, timeout=5)
    catalog = first.catalog()
    first.stop()
    second = Sandbox(tmp_path / "db.sqlite3", "key").start()
    try:
        assert [c["email"] for c in second.dump_contacts()] == ["kept@example.com"]
        assert second.catalog() == catalog
    finally:
        second.stop()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_command(cwd, *args, key="k" * 40):
    return subprocess.Popen(
        [sys.executable, str(MANAGE_PY), "ac_sandbox", *args, "--api-key", key],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_command_serves_on_loopback_without_printing_the_key(tmp_path):
    port, control_port, key = free_port(), free_port(), "SECRET" + "k" * 42
    process = start_command(tmp_path, "--port", str(port), "--control-port", str(control_port), "--seed", "5", key=key)
    try:
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/api/3" in banner and key not in banner
        response = requests.get(f"http://127.0.0.1:{port}/api/3/lists", headers={"Api-Token": key}, timeout=5)
        assert response.status_code == 200
        assert (tmp_path / "var" / "ac-sandbox.sqlite3").exists()  # default db, relative to the cwd

        clash = start_command(tmp_path, "--port", str(port), "--control-port", str(free_port()))
        out, err = clash.communicate(timeout=30)
        assert clash.returncode != 0
        assert len(err.strip().splitlines()) == 1 and "in use" in err
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert key not in out + err
