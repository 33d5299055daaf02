"""Fault modes, the control API's contract, log, stats and reset."""

import socket
import time

import pytest
import requests

from crm_sync.sandbox.faults import DEFAULTS


def connection_refused(sandbox):
    with socket.socket() as probe:
        return probe.connect_ex((sandbox.host, sandbox.port)) != 0


def test_faults_start_at_the_documented_defaults(control):
    assert control.faults() == DEFAULTS


def test_unknown_or_invalid_fault_keys_are_400_and_change_nothing(ac_sandbox, control):
    for body in ({"latency": 5}, {"error_rate": 2}, {"down": "maybe"}, {"latency_ms": 5, "bogus": 1}):
        response = requests.patch(ac_sandbox.control_url + "/_sandbox/faults", json=body, timeout=5)
        assert response.status_code == 400 and "error" in response.json()
    assert control.faults() == DEFAULTS


def test_refused_closes_the_api_port_while_control_answers(ac_sandbox, api, control):
    control.set_faults(down="refused")
    assert connection_refused(ac_sandbox)
    with pytest.raises(requests.ConnectionError):
        requests.get(ac_sandbox.api_url + "/tags", headers={"Api-Token": ac_sandbox.api_key}, timeout=2)
    assert control.faults()["down"] == "refused"
    control.set_faults(down=None)
    assert not connection_refused(ac_sandbox)
    assert api.get("/tags").status_code == 200


def test_reset_reopens_a_refused_port(ac_sandbox, control):
    control.set_faults(down="refused")
    control.reset()
    assert not connection_refused(ac_sandbox)


def test_down_503_answers_every_api_request_but_not_control(api, control):
    control.set_faults(down="503")
    response = api.sync(email="down@example.com")
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert control.contacts() == []
    assert control.log()[-1]["fault"] == "down"


def test_error_rate_answers_5xx_without_applying(api, control):
    control.set_faults(error_rate=1.0, error_statuses=[502])
    assert api.sync(email="err@example.com").status_code == 502
    assert control.contacts() == []


def test_timeout_before_write_closes_without_applying(api, control):
    control.set_faults(timeout_before_write_rate=1.0, timeout_seconds=0.3)
    with pytest.raises(requests.ConnectionError):
        api.sync(email="before@example.com")
    assert control.contacts() == []
    assert control.log()[-1]["fault"] == "timeout_before_write"
    assert control.log()[-1]["status"] is None


def test_timeout_after_write_applies_then_closes(api, control):
    control.set_faults(timeout_after_write_rate=1.0, timeout_seconds=0.3)
    with pytest.raises(requests.ConnectionError):
        api.sync(email="after@example.com", firstName="Applied")
    assert control.contact("after@example.com")["firstName"] == "Applied"


def test_a_client_read_timeout_fires_before_a_long_sandbox_timeout(api, control):
    control.set_faults(timeout_after_write_rate=1.0, timeout_seconds=2)
    with pytest.raises(requests.Timeout):
        api.post("/contact/sync", json={"contact": {"email": "slow@example.com"}}, timeout=0.3)
    assert control.contact("slow@example.com") is not None


@pytest.mark.parametrize("mode,check", [
    ("html", lambda r: r.text.startswith("<!DOCTYPE html>")),
    ("empty", lambda r: r.content == b""),
    ("message", lambda r: r.json() == {"message": "An unexpected error occurred."}),
    ("errors_string", lambda r: isinstance(r.json()["errors"], str)),
])
def test_malformed_bodies_keep_the_status_and_apply_the_request(api, control, mode, check):
    control.set_faults(malformed=mode)
    response = api.sync(email=f"{mode}@example.com")
    assert response.status_code == 201
    assert check(response)
    assert control.contact(f"{mode}@example.com") is not None


def test_malformed_with_a_status_replaces_the_answer_and_does_not_apply(api, control):
    control.set_faults(malformed="errors_string", malformed_status=422)
    response = api.sync(email="never@example.com")
    assert response.status_code == 422 and isinstance(response.json()["errors"], str)
    assert control.contacts() == []


def test_malformed_rate_applies_to_a_share(api, control):
    control.set_faults(malformed="empty", malformed_rate=0.5, seed=7)
    empties = [api.get("/tags").content == b"" for _ in range(40)]
    assert 5 < sum(empties) < 35


def test_latency_slows_api_requests_but_not_control(api, control):
    control.set_faults(latency_ms=300, jitter_ms=50)
    start = time.time()
    api.get("/tags")
    assert 0.3 <= time.time() - start < 1.5
    start = time.time()
    control.faults()
    assert time.time() - start < 0.2


def test_a_fault_seed_replays_the_same_failures(api, control):
    def run():
        control.set_faults(error_rate=0.5, seed=42)
        return [api.get("/tags").status_code for _ in range(20)]

    assert run() == run()


def test_log_records_each_api_request_in_order(api, control):
    api.sync(email="Log@Example.com")
    api.get("/contacts", params={"email": "log@example.com"})
    requests.get(api.base + "/tags", timeout=5)  # no key
    log = control.log()
    assert [(e["method"], e["path"], e["status"], e["email"]) for e in log] == [
        ("POST", "/api/3/contact/sync", 201, "Log@Example.com"),
        ("GET", "/api/3/contacts", 200, "log@example.com"),
        ("GET", "/api/3/tags", 403, None),
    ]
    seqs = [e["seq"] for e in log]
    assert seqs == sorted(seqs) and all(isinstance(e["t"], float) for e in log)
    assert [e["seq"] for e in control.log(since=seqs[0])] == seqs[1:]


def test_stats_count_endpoints_by_template_and_statuses(api, control):
    contact = api.sync(email="s@example.com").json()["contact"]["id"]
    api.get(f"/contacts/{contact}")
    api.get(f"/contacts/{contact}")
    stats = control.stats()
    assert stats["endpoints"] == {"POST /contact/sync": 1, "GET /contacts/{id}": 2}
    assert stats["statuses"] == {"201": 1, "200": 2}
    assert stats["max_in_any_sliding_second"] == 3


def test_reset_wipes_data_log_stats_and_faults_and_gives_new_ids(api, control, catalog):
    api.sync(email="r@example.com")
    control.set_faults(latency_ms=10)
    old_ids = {f["id"] for f in catalog.fields}
    control.reset()
    assert control.contacts() == [] and control.log() == []
    assert control.stats()["total_requests"] == 0
    assert control.faults() == DEFAULTS
    assert not old_ids & {f["id"] for f in control.catalog()["fields"]}


def test_control_api_is_also_served_on_the_main_port(ac_sandbox):
    response = requests.get(ac_sandbox.url + "/_sandbox/faults", timeout=5)
    assert response.status_code == 200 and response.json() == DEFAULTS


def test_control_api_is_not_rate_limited(ac_sandbox, control):
    for _ in range(20):
        control.stats()
    assert control.stats()["total_requests"] == 0


def test_the_api_is_not_served_on_the_control_port(ac_sandbox):
    response = requests.get(ac_sandbox.control_url + "/api/3/tags",
                            headers={"Api-Token": ac_sandbox.api_key}, timeout=5)
    assert response.status_code == 404


@pytest.mark.parametrize("body", [
    {"bulk_outcome": "maybe"}, {"login_page": "yes"}, {"login_page": 1},
    {"forbidden_next": -1}, {"forbidden_next": 1.5}, {"forbidden_next": True},
])
def test_the_newer_fault_keys_are_validated_like_the_others(ac_sandbox, control, body):
    response = requests.patch(ac_sandbox.control_url + "/_sandbox/faults", json=body, timeout=5)
    assert response.status_code == 400 and "error" in response.json()
    assert control.faults() == DEFAULTS


def test_login_page_answers_every_api_request_with_200_html(ac_sandbox, api, control):
    control.set_faults(login_page=True)
    for response in (api.sync(email="login@example.com"), api.get("/fields"),
                     requests.get(ac_sandbox.api_url + "/tags", timeout=5)):  # no key: the same page
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
        page = response.text
        assert page.startswith("<!DOCTYPE html>") and "<title>Log in | ActiveCampaign</title>" in page
        assert "<form" in page and 'type="password"' in page
    assert control.contacts() == []  # nothing applied
    assert [(e["status"], e["fault"]) for e in control.log()] == [(200, "login_page")] * 3
    assert requests.get(ac_sandbox.control_url + "/_sandbox/health", timeout=5).json()["ok"] is True
    control.set_faults(login_page=False)
    assert api.sync(email="login@example.com").status_code == 201


def test_forbidden_next_refuses_that_many_authenticated_requests(ac_sandbox, api, control):
    control.set_faults(forbidden_next=2)
    requests.get(ac_sandbox.api_url + "/tags", timeout=5)  # no key: its own 403, not one of the two
    assert control.faults()["forbidden_next"] == 2
    first = api.sync(email="later@example.com")
    assert (first.status_code, first.json()) == (403, {"message": "Forbidden"})
    assert control.faults()["forbidden_next"] == 1
    assert api.get("/tags").status_code == 403
    assert control.faults()["forbidden_next"] == 0
    assert control.contacts() == []  # refused requests are not applied
    assert api.sync(email="later@example.com").status_code == 201
    assert [(e["status"], e["fault"]) for e in control.log()] == [
        (403, None), (403, "forbidden"), (403, "forbidden"), (201, None)]
    assert control.stats()["faults"] == {"forbidden": 2}


def test_forbidden_next_leaves_the_control_api_alone(ac_sandbox, control):
    control.set_faults(forbidden_next=5)
    for _ in range(3):
        assert control.stats()["total_requests"] == 0
    assert control.faults()["forbidden_next"] == 5
