"""Auth (403 without the right Api-Token) and the 5-per-sliding-second budget."""

import time

import pytest
import requests

from .conftest import ApiClient


def wait_for_quiet_second():
    time.sleep(1.05)


@pytest.mark.parametrize("headers", [{}, {"Api-Token": "wrong"}, {"Api-Token": ""}])
def test_missing_or_wrong_token_is_403_forbidden(ac_sandbox, headers):
    response = requests.get(ac_sandbox.api_url + "/contacts", headers=headers, timeout=5)
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_token_header_name_is_case_insensitive_like_any_http_header(ac_sandbox):
    response = requests.get(ac_sandbox.api_url + "/contacts", headers={"api-token": ac_sandbox.api_key}, timeout=5)
    assert response.status_code == 200


def test_sixth_request_within_a_second_gets_429_with_retry_after(ac_sandbox):
    api = ApiClient(ac_sandbox)
    wait_for_quiet_second()
    statuses = [api.get("/tags").status_code for _ in range(6)]
    assert statuses[:5] == [200] * 5
    last = api.get("/tags")
    assert statuses[5] == 429 and last.status_code == 429
    assert last.headers["Retry-After"] == "1"
    stats = ac_sandbox.control.stats()
    assert stats["max_in_any_sliding_second"] == 5
    assert stats["accepted_requests"] == 5
    assert stats["statuses"]["429"] == 2
    assert sum(stats["per_second"].values()) == 5


def test_refused_requests_do_not_use_up_the_budget(ac_sandbox):
    api = ApiClient(ac_sandbox)
    wait_for_quiet_second()
    first = time.time()
    for _ in range(5):
        api.get("/tags")
    while time.time() < first + 0.9:  # hammering while limited must not extend the lock-out
        assert api.get("/tags").status_code == 429
    time.sleep(max(0.0, first + 1.05 - time.time()))
    assert api.get("/tags").status_code == 200


def test_retry_after_and_the_limit_are_configurable(ac_sandbox):
    ac_sandbox.control.set_faults(rate_limit_per_second=2, retry_after=7)
    api = ApiClient(ac_sandbox)
    statuses = [api.get("/lists").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert api.get("/lists").headers["Retry-After"] == "7"


def test_forbidden_requests_do_not_count_against_the_budget(ac_sandbox):
    for _ in range(10):
        requests.get(ac_sandbox.api_url + "/tags", timeout=5)
    assert ApiClient(ac_sandbox).get("/tags").status_code == 200


def test_bulk_imports_share_the_per_second_budget(ac_sandbox):
    api = ApiClient(ac_sandbox)
    wait_for_quiet_second()
    for _ in range(5):
        api.get("/tags")
    response = api.post("/import/bulk_import", json={"contacts": [{"email": "a@example.com"}]})
    assert response.status_code == 429


def test_burst_429_every_nth_request_starts_a_run(ac_sandbox, api):
    ac_sandbox.control.set_faults(burst_429={"every": 3, "length": 2})
    statuses = [api.get("/tags").status_code for _ in range(7)]
    assert statuses == [200, 200, 429, 429, 200, 429, 429]
    log = ac_sandbox.control.log()
    assert [entry["fault"] for entry in log][2:4] == ["burst_429", "burst_429"]
