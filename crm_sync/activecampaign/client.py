"""A small client for the parts of ActiveCampaign's API v3 crm_sync uses.

One `requests.Session` per client, the `Api-Token` header, connect and read
timeouts on every call, the account-wide rate limiter before every call, and
every request recorded (without the key) for the SyncLog row.
"""
import ipaddress
import json
import re
import time
from urllib.parse import urlencode, urlsplit

import requests

from .. import __version__
from ..conf import crm_setting
from .breaker import CONFIGURATION, OUTAGE
from .errors import (
    ACError,
    BadResponse,
    ConfigurationError,
    NotFound,
    RateLimited,
    ServerError,
    TransientError,
    ValidationFailed,
)


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


def summarize_errors(body):
    """A readable one-line summary of AC's error body, whatever its shape
    (API.md §3.4: `errors[]` objects, `errors` as a string, `message`,
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


class ActiveCampaignClient:
    """Talks to one AC account. Raises the errors in `errors.py`.

    `recorder`, if given, is a list that receives one dict per request
    (method, path, body sent, status, AC's answer truncated, milliseconds).
    `limiter` is called before each request (see coordination.AccountRateLimiter),
    and `breaker` (see breaker.CircuitBreaker) hears how each one went.
    """

    def __init__(self, account_url, api_key, *, limiter=None, breaker=None, recorder=None):
        if not api_key:
            raise ConfigurationError("ACTIVECAMPAIGN_API_KEY is not set")
        self.base = api_base(account_url)
        self.limiter = limiter
        self.breaker = breaker
        self.recorder = recorder if recorder is not None else []
        self.timeout = (crm_setting("CONNECT_TIMEOUT"), crm_setting("READ_TIMEOUT"))
        self.session = requests.Session()
        self.session.headers.update({
            "Api-Token": api_key,
            "Accept": "application/json",
            "User-Agent": f"crm_sync/{__version__}",
        })

    def close(self):
        self.session.close()

    @property
    def calls(self):
        return len(self.recorder)

    # -- transport ---------------------------------------------------------
    def request(self, method, path, *, json_body=None, params=None):
        """Send one request and return AC's JSON answer as a dict.

        A 429 is waited out here for its Retry-After (up to a short cap) and
        tried once more; after that it is raised for the task to retry.
        """
        for waited_for_429 in (False, True):
            try:
                return self._send(method, path, json_body, params)
            except RateLimited as error:
                wait = error.retry_after if error.retry_after is not None else 1.0
                if waited_for_429 or wait > crm_setting("RETRY_AFTER_MAX_WAIT"):
                    raise
                time.sleep(wait)

    def _send(self, method, path, json_body, params):
        probe = self.breaker.before_request() if self.breaker else False
        if self.limiter is not None:
            self.limiter.wait_for_slot()
        try:
            body = self._exchange(method, path, json_body, params)
        except RateLimited:
            raise  # AC answered: it is up, just busy
        except TransientError as error:
            if self.breaker:
                self.breaker.record_failure(OUTAGE, str(error), probe)
            raise
        except ConfigurationError as error:
            if self.breaker and error.status in (401, 403):
                self.breaker.record_failure(CONFIGURATION, str(error), probe)
            raise
        except ACError:
            if self.breaker:
                self.breaker.record_success()
            raise
        if self.breaker:
            self.breaker.record_success()
        return body

    def _exchange(self, method, path, json_body, params):
        url = self.base + path
        shown_path = "/api/3" + path + (("?" + urlencode(params)) if params else "")
        record = {"method": method, "path": shown_path, "body": json_body, "status": None, "response": ""}
        self.recorder.append(record)
        started = time.monotonic()
        try:
            # Never follow a redirect: requests would resend the Api-Token header to wherever it points.
            response = self.session.request(method, url, json=json_body, params=params, timeout=self.timeout,
                                            allow_redirects=False)
        except requests.Timeout as error:
            record["response"] = f"timeout: {type(error).__name__}"
            raise TransientError(f"{method} {shown_path}: AC did not answer in time ({type(error).__name__})") from None
        except requests.RequestException as error:
            record["response"] = f"network error: {type(error).__name__}"
            raise TransientError(f"{method} {shown_path}: could not reach AC ({type(error).__name__})") from None
        finally:
            record["ms"] = round((time.monotonic() - started) * 1000)
        record["status"] = response.status_code
        record["response"] = response.text[: crm_setting("LOG_BODY_LIMIT")]
        return self._parse(method, shown_path, response)

    def _parse(self, method, path, response):
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
            raise ConfigurationError(
                f"{where}: AC refused the API key ({status}); check ACTIVECAMPAIGN_API_KEY", status=status, body=body
            )
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
        if body is None:
            raise BadResponse(f"{where}: AC answered {status} with {describe_body(response)}", status=status)
        if body and set(body) <= {"message", "error", "errors"}:
            raise BadResponse(f"{where}: AC answered {status} with an error instead of data: {summarize_errors(body)}",
                              status=status, body=body)
        return body

    # -- endpoints ---------------------------------------------------------
    def get(self, path, **params):
        return self.request("GET", path, params=params or None)

    def post(self, path, body):
        return self.request("POST", path, json_body=body)

    def put(self, path, body):
        return self.request("PUT", path, json_body=body)

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
