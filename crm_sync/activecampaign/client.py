"""A small client for the parts of ActiveCampaign's API v3 crm_sync uses.

One `requests.Session` per client, the `Api-Token` header, connect and read
timeouts on every call, and every request reported (without the key) to an
`on_request` hook, for the SyncLog row. It knows nothing of Django: the
rate limiter and the circuit breaker are handed to it as objects
(`crm_sync/crm.py`), and `crm_sync.connection.make_client` builds it from the
settings.
"""
import ipaddress
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests

from .. import __version__
from ..errors import (
    CrmError,
    BadResponse,
    ConfigurationError,
    KeyRefused,
    NotFound,
    RateLimited,
    ServerError,
    TransientError,
    ValidationFailed,
)
from ..crm import CONFIGURATION, OUTAGE


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_base(account_url):
    """The `/api/3` base for the URL a user copied from AC's Settings → Developer.

    Plain http is refused unless the host is loopback (the local sandbox).
    """
    if not account_url:
        raise ConfigurationError("ACTIVECAMPAIGN_URL is not set")
    parts = urlsplit(account_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"ACTIVECAMPAIGN_URL is not an http(s) URL: {parts.scheme}://{parts.hostname}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"ACTIVECAMPAIGN_URL uses plain http to {parts.hostname}; use https (plain http is allowed only to loopback)"
        )
    base = account_url.rstrip("/")
    return base if base.endswith("/api/3") else base + "/api/3"


def check_account(account_url, api_key):
    """Raise ConfigurationError, as a client would, when the URL or key
    cannot reach an account; return the `/api/3` base. For a caller that
    needs the account settled without sending anything (the resync's dry run)."""
    if not api_key:
        raise ConfigurationError("ACTIVECAMPAIGN_API_KEY is not set")
    return api_base(account_url)


def summarize_errors(body):
    """A readable one-line summary of AC's error body, whatever its shape
    (docs/activecampaign.md §3.4: `errors[]` objects, `errors` as a string, `message`,
    the bulk importer's `failureReasons`, or plain text)."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for error in errors:
                if isinstance(error, dict):
                    text = " ".join(str(error.get(k)) for k in ("title", "detail") if error.get(k))
                    pointer = (error.get("source") or {}).get("pointer") if isinstance(error.get("source"), dict) else None
                    parts.append(f"{text} ({pointer})" if pointer else text or json.dumps(error)[:200])
                else:
                    parts.append(str(error))
            return "; ".join(parts)
        if isinstance(errors, str) and errors:
            return errors
        if body.get("message"):
            extra = body.get("error") or ""
            return f"{body['message']}{': ' + str(extra) if extra else ''}"
        if body.get("failureReasons"):
            return "; ".join(str(reason) for reason in body["failureReasons"])
        return json.dumps(body)[:500] if body else "(empty body)"
    return str(body)[:500] if body else "(empty body)"


def _json_object(response):
    """AC's answer as a dict, or None when it is not a JSON object."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_html(response):
    kind = response.headers.get("Content-Type", "").lower()
    return "html" in kind or (response.text or "").lstrip()[:1] == "<"


def describe_body(response):
    """A short description of an answer that is not AC's JSON, for the SyncLog."""
    text = (response.text or "").strip()
    if not text:
        return "an empty body"
    if text.startswith("<"):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        shown = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
        return f"an HTML page: {' '.join(shown.split())[:120]}"
    body = _json_object(response)
    if body is not None:
        return summarize_errors(body)
    return f"text that is not JSON: {text[:120]}"


@dataclass(frozen=True)
class Answer:
    """A usable answer from AC: its HTTP status and its JSON object."""

    status: int
    body: dict


class ActiveCampaignClient:
    """Talks to one AC account. Raises the errors in `errors.py`.

    `limiter.wait_for_slot()` is called before each request and `breaker`
    hears how each one went (crm_sync/crm.py); either may raise to stop a
    request going out. `on_request`, if given, is called once per request
    with a dict: method, path (with the query), body sent, status (None when
    AC never answered), AC's answer as text cut to `body_limit` characters,
    and ms. The API key is never in it.
    """

    def __init__(self, account_url, api_key, *, connect_timeout=3.05, read_timeout=10.0, retry_after_max_wait=5.0,
                 body_limit=2000, limiter=None, breaker=None, on_request=None):
        self.base = check_account(account_url, api_key)
        self.timeout = (connect_timeout, read_timeout)
        self.retry_after_max_wait = retry_after_max_wait
        self.body_limit = body_limit
        self.limiter = limiter
        self.breaker = breaker
        self.on_request = on_request
        self.session = requests.Session()
        self.session.headers.update({
            "Api-Token": api_key,
            "Accept": "application/json",
            "User-Agent": f"crm_sync/{__version__}",
        })

    def close(self):
        self.session.close()

    # -- transport ---------------------------------------------------------
    def request(self, method, path, *, json_body=None, params=None):
        """Send one request and return AC's `Answer`.

        A 429 is waited out here for its Retry-After (up to
        `retry_after_max_wait`) and tried once more; after that it is raised
        for the caller to retry later.
        """
        waited_for_429 = retried_403 = False
        while True:
            try:
                return self._send(method, path, json_body, params, forgive_403=not retried_403)
            except RateLimited as error:
                wait = error.retry_after if error.retry_after is not None else 1.0
                if waited_for_429 or wait > self.retry_after_max_wait:
                    raise
                waited_for_429 = True
                time.sleep(wait)
            except KeyRefused as error:
                # AC refuses a valid key now and then: one 403 is tried once
                # more before the key counts as refused (docs/activecampaign.md §11).
                if retried_403 or error.status != 403:
                    raise
                retried_403 = True

    def _send(self, method, path, json_body, params, forgive_403=False):
        probe = self.breaker.before_request() if self.breaker else False
        if self.limiter is not None:
            self.limiter.wait_for_slot()
        try:
            answer = self._exchange(method, path, json_body, params)
        except RateLimited:
            raise  # AC answered: it is up, just busy
        except TransientError as error:
            if self.breaker:
                self.breaker.record_failure(OUTAGE, str(error), probe)
            raise
        except KeyRefused as error:
            if self.breaker and not (forgive_403 and error.status == 403):
                self.breaker.record_failure(CONFIGURATION, str(error), probe)
            raise
        except CrmError:
            if self.breaker:
                self.breaker.record_success()
            raise
        if self.breaker:
            self.breaker.record_success()
        return answer

    def _exchange(self, method, path, json_body, params):
        url = self.base + path
        shown_path = "/api/3" + path + (("?" + urlencode(params)) if params else "")
        report = {"method": method, "path": shown_path, "body": json_body, "status": None, "response": ""}
        started = time.monotonic()
        try:
            try:
                # Never follow a redirect: requests would resend the Api-Token header to wherever it points.
                response = self.session.request(method, url, json=json_body, params=params, timeout=self.timeout,
                                                allow_redirects=False)
            except requests.Timeout as error:
                report["response"] = f"timeout: {type(error).__name__}"
                raise TransientError(
                    f"{method} {shown_path}: AC did not answer in time ({type(error).__name__})") from error
            except requests.RequestException as error:
                report["response"] = f"network error: {type(error).__name__}"
                raise TransientError(f"{method} {shown_path}: could not reach AC ({type(error).__name__})") from error
            finally:
                report["ms"] = round((time.monotonic() - started) * 1000)
            report["status"] = response.status_code
            report["response"] = response.text[: self.body_limit]
        finally:
            if self.on_request is not None:
                self.on_request(report)
        return Answer(response.status_code, self._parse(method, shown_path, response))

    def _parse(self, method, path, response):
        """AC's JSON object, or the error its status and body call for."""
        status = response.status_code
        body = _json_object(response)
        where = f"{method} {path}"
        if status == 429:
            retry_after = response.headers.get("Retry-After")
            try:
                retry_after = float(retry_after) if retry_after is not None else None
            except ValueError:
                retry_after = None
            raise RateLimited(f"{where}: AC rate limit (429)", status=status, body=body, retry_after=retry_after)
        if status >= 500:
            raise ServerError(f"{where}: AC server error {status}: {describe_body(response)}", status=status, body=body)
        if status in (401, 403):
            raise KeyRefused(f"{where}: AC refused the API key ({status}); check ACTIVECAMPAIGN_API_KEY",
                             status=status, body=body)
        if 300 <= status < 400:
            target = urlsplit(response.headers.get("Location", "")).hostname or "nowhere"
            raise BadResponse(f"{where}: AC answered {status} redirecting to {target}; check ACTIVECAMPAIGN_URL",
                              status=status)
        if 400 <= status < 500 and body is None:
            # Not AC's JSON: a proxy or load balancer answered, not AC.
            raise BadResponse(f"{where}: AC answered {status} with {describe_body(response)}", status=status)
        if status == 404:
            raise NotFound(f"{where}: not found: {summarize_errors(body)}", status=status, body=body)
        if 400 <= status < 500:
            raise ValidationFailed(f"{where}: AC rejected the data ({status}): {summarize_errors(body)}",
                                   status=status, body=body)
        if body is None and _is_html(response):
            # AC answers a wrong or expired key with its login page and a 200
            # (docs/activecampaign.md §11): a configuration problem, not an outage.
            raise KeyRefused(
                f"{where}: AC answered {status} with {describe_body(response)} where JSON was expected: the API key "
                "is wrong or expired, or ACTIVECAMPAIGN_URL is not the account's API URL; check both "
                "(Settings → Developer in AC)", status=status)
        if body is None:
            raise BadResponse(f"{where}: AC answered {status} with {describe_body(response)}", status=status)
        if body and set(body) <= {"message", "error", "errors"}:
            raise BadResponse(f"{where}: AC answered {status} with an error instead of data: {summarize_errors(body)}",
                              status=status, body=body)
        return body

    # -- endpoints ---------------------------------------------------------
    # The shortcuts return the body; `request` gives the status too.
    def get(self, path, **params):
        return self.request("GET", path, params=params or None).body

    def post(self, path, body):
        return self.request("POST", path, json_body=body).body

    def put(self, path, body):
        return self.request("PUT", path, json_body=body).body

    def get_all(self, path, collection, **params):
        """Every item of a paged collection (AC pages: limit ≤ 100, offset),
        with the lists AC sideloads beside it (e.g. `fieldOptions`) merged."""
        merged, offset = {collection: []}, 0
        while True:
            page = self.get(path, limit=100, offset=offset, **params)
            for key, value in page.items():
                if isinstance(value, list):
                    merged.setdefault(key, []).extend(value)
            batch = page.get(collection) or []
            total = int((page.get("meta") or {}).get("total") or 0)
            offset += len(batch)
            if len(batch) < 100 or offset >= total:
                return merged
