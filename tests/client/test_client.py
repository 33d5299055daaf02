"""The AC client on its own, at the HTTP boundary (`responses`): no Django
settings, no database. What it sends, what it returns, what it raises and
what it reports of each request."""
import json

import pytest
import requests
import responses

import crm_sync
from crm_sync.activecampaign import client as client_module
from crm_sync.activecampaign.client import ActiveCampaignClient, Answer, api_base
from crm_sync.errors import (
    BadResponse,
    Category,
    ConfigurationError,
    KeyRefused,
    NotFound,
    RateLimited,
    ServerError,
    TransientError,
    ValidationFailed,
)
from crm_sync.crm import CONFIGURATION, OUTAGE

URL = "https://acme.api-us1.com"
BASE = URL + "/api/3"
KEY = "unit-test-key-" + "q" * 40


@pytest.fixture
def ac():
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def reports():
    return []


@pytest.fixture
def client(reports):
    made = ActiveCampaignClient(URL, KEY, connect_timeout=1.5, read_timeout=7.0, retry_after_max_wait=2.0,
                                body_limit=40, on_request=reports.append)
    yield made
    made.close()


@pytest.fixture
def slept(monkeypatch):
    """time.sleep as the client calls it, recorded instead of slept."""
    calls = []
    monkeypatch.setattr(client_module.time, "sleep", calls.append)
    return calls


# -- what goes out -------------------------------------------------------------
def test_every_request_carries_the_key_header_and_json_accept(ac, client):
    ac.get(BASE + "/contacts", json={"contacts": []})
    client.get("/contacts")
    headers = ac.calls[0].request.headers
    assert headers["Api-Token"] == KEY
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == f"crm_sync/{crm_sync.__version__}"


def test_connect_and_read_timeouts_are_passed_on_every_request(ac, client):
    ac.get(BASE + "/contacts", json={"contacts": []})
    ac.post(BASE + "/contact/sync", json={"contact": {"id": "1"}})
    client.get("/contacts")
    client.post("/contact/sync", {"contact": {"email": "ada@example.com"}})
    assert [call.request.req_kwargs["timeout"] for call in ac.calls] == [(1.5, 7.0), (1.5, 7.0)]


def test_the_default_timeouts_are_a_few_seconds_to_connect_and_ten_to_read(ac):
    ac.get(BASE + "/contacts", json={"contacts": []})
    ActiveCampaignClient(URL, KEY).get("/contacts")
    assert ac.calls[0].request.req_kwargs["timeout"] == (3.05, 10.0)


def test_a_body_is_sent_as_json(ac, client):
    ac.post(BASE + "/contactTags", json={"contactTag": {"id": "9"}}, status=201)
    client.post("/contactTags", {"contactTag": {"contact": "5", "tag": "7"}})
    assert json.loads(ac.calls[0].request.body) == {"contactTag": {"contact": "5", "tag": "7"}}


# -- what comes back -----------------------------------------------------------
def test_an_answer_carries_the_status_and_the_body(ac, client):
    ac.post(BASE + "/contact/sync", json={"contact": {"id": "42"}}, status=201)
    ac.post(BASE + "/contact/sync", json={"contact": {"id": "42"}}, status=200)
    body = {"contact": {"email": "ada@example.com"}}

    assert client.request("POST", "/contact/sync", json_body=body) == Answer(201, {"contact": {"id": "42"}})
    assert client.request("POST", "/contact/sync", json_body=body).status == 200


def test_the_shortcuts_return_the_body(ac, client):
    ac.get(BASE + "/contacts", json={"contacts": [{"id": "1"}]})
    ac.put(BASE + "/contacts/1", json={"contact": {"id": "1"}})
    assert client.get("/contacts", email="ada@example.com") == {"contacts": [{"id": "1"}]}
    assert client.put("/contacts/1", {"contact": {"email": "ada@example.com"}}) == {"contact": {"id": "1"}}
    assert ac.calls[0].request.url == BASE + "/contacts?email=ada%40example.com"


# -- errors, one class and category per thing a caller does differently ------
@pytest.mark.parametrize(("status", "body", "error", "category", "retryable", "said"), [
    (500, {"message": "oops"}, ServerError, "server_error", True, "AC server error 500: oops"),
    (503, None, ServerError, "server_error", True, "AC server error 503"),
    (401, {"message": "No key"}, ConfigurationError, "configuration", False, "refused the API key (401)"),
    (403, {"message": "Forbidden"}, ConfigurationError, "configuration", False, "refused the API key (403)"),
    (404, {"message": "No Result found for Subscriber with id 9"}, NotFound, "not_found", False,
     "not found: No Result found for Subscriber with id 9"),
    (422, {"errors": [{"title": "Email address is invalid", "source": {"pointer": "/data/attributes/email"}}]},
     ValidationFailed, "validation", False, "AC rejected the data (422): Email address is invalid (/data/attributes/email)"),
    (400, {"message": "Bad request"}, ValidationFailed, "validation", False, "AC rejected the data (400)"),
])
def test_each_status_raises_the_error_a_caller_acts_on(ac, client, status, body, error, category, retryable, said):
    ac.get(BASE + "/contacts/9", json=body, status=status)
    with pytest.raises(error) as raised:
        client.get("/contacts/9")
    assert raised.value.category == category and raised.value.category is Category(category)
    assert raised.value.retryable is retryable
    assert raised.value.status == status and said in str(raised.value)
    assert KEY not in str(raised.value)


def test_categories_are_the_strings_synclog_stores():
    assert Category.NOT_FOUND == "not_found" and f"{Category.VALIDATION}" == "validation"
    assert json.dumps({"category": Category.POISON}) == '{"category": "poison"}'


def test_a_login_page_with_200_is_a_refused_key_not_a_success_nor_an_outage(ac, client):
    # How AC answers a wrong or expired key (docs/activecampaign.md §11).
    ac.get(BASE + "/contacts", body="<html><title>Sign in | ActiveCampaign</title><body>…</body></html>",
           status=200, content_type="text/html")
    with pytest.raises(KeyRefused) as raised:
        client.get("/contacts")
    assert raised.value.category == "configuration" and not raised.value.retryable
    assert "an HTML page: Sign in | ActiveCampaign" in str(raised.value)
    assert "API key is wrong or expired" in str(raised.value) and KEY not in str(raised.value)


def test_one_403_is_tried_once_more_and_the_breaker_never_hears_of_it(ac):
    ac.get(BASE + "/contacts", json={"message": "Forbidden"}, status=403)
    ac.get(BASE + "/contacts", json={"contacts": []})
    breaker = RecordingBreaker()
    assert ActiveCampaignClient(URL, KEY, breaker=breaker).get("/contacts") == {"contacts": []}
    assert len(ac.calls) == 2 and breaker.heard == ["success"]


def test_a_403_twice_in_a_row_is_a_refused_key_and_opens_the_breaker(ac):
    ac.get(BASE + "/contacts", json={"message": "Forbidden"}, status=403)
    breaker = RecordingBreaker()
    with pytest.raises(KeyRefused):
        ActiveCampaignClient(URL, KEY, breaker=breaker).get("/contacts")
    assert len(ac.calls) == 2 and breaker.heard == [(CONFIGURATION, False)]


def test_a_401_is_not_tried_again(ac, client):
    ac.get(BASE + "/contacts", json={"message": "No key"}, status=401)
    with pytest.raises(KeyRefused):
        client.get("/contacts")
    assert len(ac.calls) == 1


@pytest.mark.parametrize(("status", "body", "said"), [
    (200, "", "an empty body"),
    (200, "not json at all", "text that is not JSON"),
    (200, json.dumps({"message": "Something went wrong"}), "an error instead of data"),
    (404, "<html><title>404 Not Found</title></html>", "AC answered 404 with an HTML page"),
])
def test_answers_that_are_not_acs_json_are_bad_responses(ac, client, status, body, said):
    ac.get(BASE + "/contacts", body=body, status=status)
    with pytest.raises(BadResponse) as raised:
        client.get("/contacts")
    assert said in str(raised.value)


def test_a_redirect_is_not_followed(ac, client):
    ac.get(BASE + "/contacts", status=302, headers={"Location": "https://elsewhere.example.com/api/3/contacts"})
    with pytest.raises(BadResponse) as raised:
        client.get("/contacts")
    assert "redirecting to elsewhere.example.com" in str(raised.value)
    assert len(ac.calls) == 1  # responses would fail the test on a request to the other host


def test_a_429_is_waited_out_once_for_its_retry_after(ac, client, slept):
    ac.get(BASE + "/contacts", status=429, json={}, headers={"Retry-After": "1.5"})
    ac.get(BASE + "/contacts", json={"contacts": []})
    assert client.get("/contacts") == {"contacts": []}
    assert slept == [1.5] and len(ac.calls) == 2


def test_a_second_429_is_raised_for_the_caller_to_retry_later(ac, client, slept):
    ac.get(BASE + "/contacts", status=429, json={}, headers={"Retry-After": "1"})
    with pytest.raises(RateLimited) as raised:
        client.get("/contacts")
    assert slept == [1.0] and len(ac.calls) == 2
    assert (raised.value.category, raised.value.retry_after, raised.value.retryable) == ("rate_limited", 1.0, True)


def test_a_429_asking_for_longer_than_the_client_may_wait_is_raised_at_once(ac, client, slept):
    ac.get(BASE + "/contacts", status=429, json={}, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as raised:
        client.get("/contacts")
    assert slept == [] and len(ac.calls) == 1 and raised.value.retry_after == 30.0


@pytest.mark.parametrize(("failure", "said"), [
    (requests.ConnectionError("connection refused"), "could not reach AC (ConnectionError)"),
    (requests.ReadTimeout("read timed out"), "AC did not answer in time (ReadTimeout)"),
    (requests.exceptions.SSLError("certificate verify failed"), "could not reach AC (SSLError)"),
])
def test_network_errors_are_transient_and_keep_their_cause(ac, client, failure, said):
    ac.get(BASE + "/contacts", body=failure)
    with pytest.raises(TransientError) as raised:
        client.get("/contacts")
    assert said in str(raised.value) and raised.value.category == "network" and raised.value.retryable
    assert raised.value.__cause__ is failure  # chained, not hidden with `from None`
    assert KEY not in str(raised.value) and KEY not in repr(raised.value.__cause__)


def test_a_missing_key_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="ACTIVECAMPAIGN_API_KEY is not set"):
        ActiveCampaignClient(URL, "")


# -- what is reported ----------------------------------------------------------
def test_the_hook_hears_of_every_request_without_the_key(ac, client, reports):
    ac.get(BASE + "/contacts", json={"contacts": [], "meta": {"total": "0"}, "padding": "x" * 100})
    ac.post(BASE + "/contact/sync", json={"errors": [{"title": "Email is invalid"}]}, status=422)
    ac.get(BASE + "/lists", body=requests.ConnectionError("refused"))

    client.get("/contacts", email="ada@example.com")
    with pytest.raises(ValidationFailed):
        client.post("/contact/sync", {"contact": {"email": "ada@"}})
    with pytest.raises(TransientError):
        client.get("/lists")

    assert [(r["method"], r["path"], r["body"], r["status"]) for r in reports] == [
        ("GET", "/api/3/contacts?email=ada%40example.com", None, 200),
        ("POST", "/api/3/contact/sync", {"contact": {"email": "ada@"}}, 422),
        ("GET", "/api/3/lists", None, None),
    ]
    assert reports[0]["response"] == ac.calls[0].response.text[:40] and len(reports[0]["response"]) == 40
    assert reports[2]["response"] == "network error: ConnectionError"
    assert all(isinstance(r["ms"], int) and r["ms"] >= 0 for r in reports)
    assert set(reports[0]) == {"method", "path", "body", "status", "response", "ms"}
    assert KEY not in repr(reports)


def test_without_a_hook_nothing_is_kept(ac):
    ac.get(BASE + "/contacts", json={"contacts": []})
    made = ActiveCampaignClient(URL, KEY)
    made.get("/contacts")
    assert not [name for name, value in vars(made).items() if isinstance(value, list)]


# -- transport -----------------------------------------------------------------
@pytest.mark.parametrize("url", ["http://acme.api-us1.com", "http://10.0.0.1", "http://localhost.example.com",
                                 "ftp://127.0.0.1", "acme.api-us1.com", ""])
def test_plain_http_is_refused_except_to_loopback(url):
    with pytest.raises(ConfigurationError):
        ActiveCampaignClient(url, KEY)


@pytest.mark.parametrize(("url", "base"), [
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api/3"),
    ("http://localhost:8765/", "http://localhost:8765/api/3"),
    ("http://[::1]:8765", "http://[::1]:8765/api/3"),
    ("https://acme.api-us1.com/api/3", "https://acme.api-us1.com/api/3"),
])
def test_loopback_over_http_and_any_host_over_https_are_accepted(url, base):
    assert api_base(url) == base
    assert ActiveCampaignClient(url, KEY).base == base


# -- paging --------------------------------------------------------------------
def test_get_all_pages_through_a_collection_and_merges_sideloaded_lists(ac, client):
    tags = [{"id": str(n), "tag": f"tag-{n}"} for n in range(230)]
    for offset in (0, 100, 200):
        ac.get(BASE + "/tags", match=[responses.matchers.query_param_matcher(
            {"limit": "100", "offset": str(offset), "search": "tag"})],
            json={"tags": tags[offset:offset + 100], "fieldOptions": [{"page": offset}],
                  "meta": {"total": "230"}})

    merged = client.get_all("/tags", "tags", search="tag")
    assert merged["tags"] == tags
    assert merged["fieldOptions"] == [{"page": 0}, {"page": 100}, {"page": 200}]
    assert len(ac.calls) == 3


def test_get_all_stops_at_the_total_even_on_a_full_page(ac, client):
    ac.get(BASE + "/lists", json={"lists": [{"id": str(n)} for n in range(100)], "meta": {"total": "100"}})
    assert len(client.get_all("/lists", "lists")["lists"]) == 100
    assert len(ac.calls) == 1


# -- the limiter and the breaker it is given -----------------------------------
class CountingLimiter:
    def __init__(self):
        self.slots = 0

    def wait_for_slot(self):
        self.slots += 1


class RecordingBreaker:
    def __init__(self, probe=False, refuse=None):
        self.probe, self.refuse, self.heard = probe, refuse, []

    def before_request(self):
        if self.refuse:
            raise self.refuse
        return self.probe

    def record_success(self):
        self.heard.append("success")

    def record_failure(self, reason, message, probe=False):
        self.heard.append((reason, probe))


@pytest.mark.parametrize(("status", "heard"), [
    (200, ["success"]),
    (422, ["success"]),       # AC answered: it is up; the data is at fault
    (404, ["success"]),
    (503, [(OUTAGE, True)]),
    (403, [(CONFIGURATION, True)]),
])
def test_the_breaker_hears_how_each_request_went(ac, status, heard):
    ac.get(BASE + "/contacts", json={"contacts": []} if status == 200 else {"message": "no"}, status=status)
    breaker = RecordingBreaker(probe=True)
    try:
        ActiveCampaignClient(URL, KEY, breaker=breaker).get("/contacts")
    except Exception:
        pass
    assert breaker.heard == heard


def test_a_429_tells_the_breaker_nothing(ac, slept):
    ac.get(BASE + "/contacts", status=429, json={}, headers={"Retry-After": "60"})
    breaker = RecordingBreaker()
    with pytest.raises(RateLimited):
        ActiveCampaignClient(URL, KEY, breaker=breaker).get("/contacts")
    assert breaker.heard == []


def test_a_breaker_or_limiter_that_refuses_stops_the_request_going_out(ac):
    class Open(Exception):
        pass

    limiter = CountingLimiter()
    client = ActiveCampaignClient(URL, KEY, limiter=limiter, breaker=RecordingBreaker(refuse=Open()))
    with pytest.raises(Open):
        client.get("/contacts")
    assert len(ac.calls) == 0 and limiter.slots == 0


def test_the_limiter_is_asked_for_a_slot_before_every_request_including_a_429_retry(ac, slept):
    ac.get(BASE + "/contacts", status=429, json={}, headers={"Retry-After": "0"})
    ac.get(BASE + "/contacts", json={"contacts": []})
    limiter = CountingLimiter()
    ActiveCampaignClient(URL, KEY, limiter=limiter).get("/contacts")
    assert limiter.slots == 2
