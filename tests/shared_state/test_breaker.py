"""The circuit breaker every worker shares: it opens after N failures in a
row, at once for a refused key; lets one probe through per interval; closes
on the first success."""
import time

import pytest
import responses

from crm_sync.activecampaign.client import ActiveCampaignClient
from crm_sync.errors import ServerError
from crm_sync.breaker import CLOSED, CONFIGURATION, OUTAGE, CircuitBreaker, CircuitOpen

pytestmark = pytest.mark.usefixtures("shared_state")
ACCOUNT = "https://acme.api-us1.com"
RESET = 0.4


@pytest.fixture(autouse=True)
def breaker_settings(shared_state, settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "BREAKER_FAILURES": 3, "BREAKER_RESET_SECONDS": RESET}


def test_it_opens_after_n_failures_in_a_row():
    breaker = CircuitBreaker(ACCOUNT)
    for _ in range(2):
        breaker.record_failure(OUTAGE, "AC server error 503")
        assert breaker.before_request() is False, "a failure or two could be bad luck"
    breaker.record_failure(OUTAGE, "AC server error 503")
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_request()
    assert refused.value.reason == "outage" and 0 < refused.value.wait <= RESET
    assert breaker.state()["message"] == "AC server error 503"


def test_a_success_between_failures_starts_the_count_again():
    breaker = CircuitBreaker(ACCOUNT)
    breaker.record_failure(OUTAGE, "timeout")
    breaker.record_failure(OUTAGE, "timeout")
    breaker.record_success()
    breaker.record_failure(OUTAGE, "timeout")
    breaker.record_failure(OUTAGE, "timeout")
    assert not breaker.is_open()


def test_a_refused_key_opens_it_at_once():
    breaker = CircuitBreaker(ACCOUNT)
    breaker.record_failure(CONFIGURATION, "AC refused the API key (403)")
    state = breaker.state()
    assert (state["state"], state["reason"], state["message"]) == ("open", "configuration",
                                                                   "AC refused the API key (403)")


def test_every_worker_sees_the_same_breaker_for_the_same_account():
    CircuitBreaker(ACCOUNT).record_failure(CONFIGURATION, "403")
    assert CircuitBreaker(ACCOUNT).is_open()
    assert not CircuitBreaker("https://other.api-us1.com").is_open()


def test_one_probe_per_interval_across_workers():
    CircuitBreaker(ACCOUNT).open(OUTAGE, "AC down")
    with pytest.raises(CircuitOpen):
        CircuitBreaker(ACCOUNT).before_request()  # not before the interval is over
    time.sleep(RESET + 0.1)
    workers = [CircuitBreaker(ACCOUNT) for _ in range(3)]
    assert workers[0].before_request() is True
    for other in workers[1:]:
        with pytest.raises(CircuitOpen):
            other.before_request()


def test_a_failed_probe_keeps_it_open_for_another_interval():
    breaker = CircuitBreaker(ACCOUNT)
    breaker.open(OUTAGE, "AC down")
    since = breaker.state()["since"]
    time.sleep(RESET + 0.1)
    assert breaker.before_request() is True
    breaker.record_failure(OUTAGE, "still down", probe=True)
    with pytest.raises(CircuitOpen):
        breaker.before_request()
    state = breaker.state()
    assert state["since"] == since and state["until"] > time.time() + RESET / 2
    time.sleep(RESET + 0.1)
    assert breaker.before_request() is True, "the next interval has its probe"


def test_a_successful_probe_closes_it_for_everyone():
    breaker = CircuitBreaker(ACCOUNT)
    breaker.open(OUTAGE, "AC down")
    time.sleep(RESET + 0.1)
    assert breaker.before_request() is True
    breaker.record_success()
    assert breaker.state() == CLOSED
    assert [CircuitBreaker(ACCOUNT).before_request() for _ in range(3)] == [False, False, False]


def test_the_client_sends_nothing_once_its_breaker_is_open():
    with responses.RequestsMock() as ac:
        ac.get(ACCOUNT + "/api/3/contacts", status=503, json={})
        client = ActiveCampaignClient(ACCOUNT, "a-key", breaker=CircuitBreaker(ACCOUNT))
        for _ in range(3):
            with pytest.raises(ServerError):
                client.get("/contacts")
        with pytest.raises(CircuitOpen):
            client.get("/contacts")
        assert len(ac.calls) == 3
