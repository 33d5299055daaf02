"""The ``Sandbox``: two HTTP listeners and the pipeline every API request goes through.

The main listener serves ``/api/3`` (the emulated AC API), ``/_sandbox/`` (the
control API) and ``/`` (the HTML page). The control listener serves the same
minus ``/api/3`` and stays up whatever the faults say: the ``down: "refused"``
fault closes the main listening socket, and only the control listener can
then reopen it.

An API request goes through these steps, in order (docs/sandbox.md):

1. ``down``: "503" answers 503; "refused" means the socket is closed.
2. ``login_page``: 200 with AC's HTML login page, as for a refused key.
3. Auth: a missing or wrong ``Api-Token`` header gets 403; then
   ``forbidden_next`` answers 403 to a valid key.
4. ``burst_429``, then the sliding-second rate limit: 429 with Retry-After.
5. Latency and jitter.
6. ``error_rate`` (5xx, not applied), ``timeout_before_write_rate`` (sleep,
   close, not applied), ``malformed`` with a ``malformed_status`` (not applied).
7. The endpoint itself, in one store transaction.
8. ``timeout_after_write_rate`` (applied, then sleep and close), ``malformed``
   without a status (applied, body replaced).

A third background thread sends webhook deliveries (``webhook_sender``), as
AC posts them when a contact unsubscribes, subscribes or bounces, or when the
API changes a list status (``contact_events``).
"""

import hmac
import http
import json
import logging
import pathlib
import random
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import page
from .api import Api
from .bulk_import import BulkImporter
from .contact_events import ContactEvents
from .control_api import ControlApi
from .faults import FaultConfig
from .rate_limit import SlidingWindow
from .recorder import Recorder
from .seed import build_empty_plan, build_plan
from .store import Store
from .webhook_sender import WebhookSender
from .webhooks import webhook_view

logger = logging.getLogger("crm_sync.sandbox")

_MALFORMED_BODIES = {
    "html": ("text/html; charset=utf-8",
             b"<!DOCTYPE html><html><head><title>Error</title></head>"
             b"<body><h1>Something went wrong</h1></body></html>"),
    "empty": ("application/json", b""),
    "message": ("application/json", b'{"message":"An unexpected error occurred."}'),
    "errors_string": ("application/json", b'{"errors":"Request failed. Please try again later."}'),
}

# What AC sends a wrong or expired key instead of JSON: its login page, with
# status 200 (docs/activecampaign.md §11.1). A client must not take it as success.
_LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Log in | ActiveCampaign</title></head>"
    b"<body><main><h1>Log in to your account</h1>"
    b"<form method=\"post\" action=\"/admin/index.php\">"
    b"<label>Username or email <input type=\"text\" name=\"user\"></label>"
    b"<label>Password <input type=\"password\" name=\"password\"></label>"
    b"<button type=\"submit\">Log in</button></form></main></body></html>"
)


def _error_page(status):
    """The HTML a load balancer sends for a 5xx; clients must not expect JSON here."""
    phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error"
    return f"<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1></body></html>"


class _Listener(ThreadingHTTPServer):
    daemon_threads = True  # a request sleeping in a timeout fault must not block stop()
    allow_reuse_address = True  # so a closed main port can be reopened at once

    def __init__(self, address, sandbox, is_main):
        self.sandbox = sandbox
        self.is_main = is_main
        self.serving = False
        super().__init__(address, _Handler)

    def close(self):
        """Stop serving (if it ever started) and close the listening socket."""
        if self.serving:
            self.shutdown()  # waits for serve_forever to return; never call it before that started
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like AC; every answer has a Content-Length
    server_version = "ac-sandbox"
    sys_version = ""
    timeout = 120  # drop idle keep-alive connections eventually
    # Send headers and body in one segment: two small writes meet the client's
    # delayed ACK and cost ~40 ms per request.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_GET(self):
        self.server.sandbox._dispatch(self, self.server.is_main)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format, *args):
        # Without the query string: GET /webhooks?filters[url]= carries a receiver's token.
        logger.debug("%s - %s %s", self.address_string(), self.command, self.path.partition("?")[0])

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def answer(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def answer_json(self, status, data, headers=()):
        self.answer(status, json.dumps(data).encode(), "application/json", headers)

    def hang_up(self):
        """Close the connection without answering."""
        self.close_connection = True


class Sandbox:
    """A running emulated AC account. See docs/sandbox.md.

    ``Sandbox(db_path, api_key).start()`` binds both listeners on ``host``
    (ports 0 = pick free ones) and serves in background threads; ``stop()``
    ends it. State lives in the SQLite file ``db_path``; an empty file is
    seeded on start (with ``seed``, deterministically; without, randomly).
    """

    def __init__(self, db_path, api_key, host="127.0.0.1", port=0, control_port=0, seed=None):
        if not api_key:
            raise ValueError("the sandbox needs an API key")
        if port and port == control_port:
            raise ValueError("port and control_port must differ")
        self.db_path = pathlib.Path(db_path)
        self._api_key = api_key
        self.host = host
        self.port = port
        self.control_port = control_port
        self.seed = seed
        self.control = None  # the pytest fixture attaches a SandboxControl here
        self.faults = FaultConfig()
        self.recorder = Recorder()
        self.limiter = SlidingWindow(1.0)
        self.store = None
        self._main = None
        self._control = None
        self._listener_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = []

    # -- public API ----------------------------------------------------------

    @property
    def api_key(self):
        return self._api_key

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self):
        return self.url + "/api/3"

    @property
    def control_url(self):
        return f"http://{self.host}:{self.control_port}"

    def start(self):
        """Open the database, bind both ports, serve in background threads; return self.

        Raises OSError (errno EADDRINUSE) if a port is taken.
        """
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.db_path)
        try:
            self._main = self._listen(self.port, is_main=True)
            self.port = self._main.server_address[1]
            self._control = self._listen(self.control_port, is_main=False)
            self.control_port = self._control.server_address[1]
        except OSError:
            self._close_listeners()
            self.store.close()
            raise
        self.bulk = BulkImporter(self.store, self.faults)
        self.sender = WebhookSender(self.store, self.faults)
        self.events = ContactEvents(self.store, self.sender)
        self.api = Api(self.store, self.recorder, self.bulk, self.api_url, self.faults, self.events)
        self.control_api = ControlApi(self)
        with self.store.transaction():
            if not self.store.is_seeded():
                rng = random.Random(self.seed)
                self.store.wipe_and_seed(build_plan(rng), rng)
        self._serve(self._main)
        self._serve(self._control)
        for target, name in ((self._bulk_worker, "ac-sandbox-bulk"), (self._webhook_worker, "ac-sandbox-webhooks")):
            worker = threading.Thread(target=target, name=name, daemon=True)
            worker.start()
            self._threads.append(worker)
        return self

    def stop(self):
        """Stop serving and close the database. Requests in flight are abandoned."""
        self._stopping.set()
        self._close_listeners()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.store:
            self.store.close()

    def serve_forever(self):
        """Start (if needed) and block until interrupted, then stop."""
        if self._main is None:
            self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def reset(self, seed=None, empty=False):
        """Wipe and re-seed the data (new ids, never reused), clear log, stats and faults.

        ``empty=True`` starts from an account with no custom fields, lists or
        tags, as a new organiser's first deploy meets it.
        """
        self._apply_down(lambda: self.faults.reset())
        rng = random.Random(seed)
        with self.store.transaction():
            self.store.wipe_and_seed(build_empty_plan() if empty else build_plan(rng), rng)
        self.recorder.clear()
        self.limiter.clear()
        self.bulk.clear()
        self.sender.clear()

    def set_faults(self, partial):
        """Apply a partial fault update (FaultConfigError if invalid); return the new config."""
        return self._apply_down(lambda: self.faults.update(partial))

    def dump_contacts(self):
        with self.store.transaction():
            return self.store.dump_contacts()

    def catalog(self):
        with self.store.transaction():
            return self.store.catalog()

    def webhooks(self):
        """Registered webhooks as the sandbox shows them: URL masked, and whether a 410 switched one off."""
        with self.store.transaction():
            return [webhook_view(row) for row in self.store.all_webhooks()]

    def deletions_this_month(self):
        with self.store.transaction():
            return self.store.deletions_this_month()

    # -- listeners -----------------------------------------------------------

    def _listen(self, port, is_main):
        try:
            return _Listener((self.host, port), self, is_main)
        except OSError as error:
            # Name the address: the caller may not know which of two ports failed.
            raise OSError(error.errno, f"cannot listen on {self.host}:{port}: {error.strerror}") from None

    def _serve(self, listener):
        listener.serving = True
        thread = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.1},
                                  name="ac-sandbox-http", daemon=True)
        thread.start()

    def _close_listeners(self):
        with self._listener_lock:
            for listener in (self._main, self._control):
                if listener is not None:
                    listener.close()
            self._main = self._control = None

    def _apply_down(self, change):
        """Run ``change`` (which edits the faults) and open/close the main socket to match."""
        with self._listener_lock:
            result = change()
            refused = self.faults.get("down") == "refused"
            if refused and self._main is not None:
                self._main.close()
                self._main = None
            elif not refused and self._main is None and not self._stopping.is_set():
                self._main = self._listen(self.port, is_main=True)
                self._serve(self._main)
            return result

    def _bulk_worker(self):
        while not self._stopping.wait(0.05):
            try:
                self.bulk.process_due()
            except Exception:  # keep the worker alive; the failure shows in the logs
                logger.exception("bulk import processing failed")

    def _webhook_worker(self):
        while not self._stopping.wait(0.02):
            try:
                self.sender.send_due()
            except Exception:  # keep the worker alive; the failure shows in the logs
                logger.exception("webhook delivery failed")

    # -- request handling ----------------------------------------------------

    def _dispatch(self, handler, on_main):
        try:
            self._route(handler, on_main)
        except Exception:
            # A sandbox bug must show as such, not as an AC behaviour to code around.
            logger.exception("sandbox error on %s %s", handler.command, handler.path)
            handler.answer_json(500, {"message": "sandbox internal error (a bug in the sandbox; see its log)"})

    def _route(self, handler, on_main):
        path, _, query = handler.path.partition("?")
        body = handler.read_body()
        if self.control_api.is_page_action(handler.command, path, handler.headers.get("Content-Type"), body):
            self._page_action(handler, path, body)
        elif path == "/_sandbox" or path.startswith("/_sandbox/"):
            status, data = self.control_api.handle(handler.command, path, query, body)
            handler.answer_json(status, data)
        elif path == "/" and handler.command == "GET":
            html = page.render(self.dump_contacts(), self.catalog(), self.webhooks(), self.sender.records())
            handler.answer(200, html.encode(), "text/html; charset=utf-8")
        elif on_main and path.startswith("/api/3/"):
            self._api_request(handler, path, query, body)
        else:
            handler.answer_json(404, {"message": "Not Found"})

    def _page_action(self, handler, path, body):
        """A button of the page (a form post): do it, then send the browser back to the page."""
        status, message = self.control_api.handle_form(path, body, handler.headers.get("Origin"))
        if status == 200:
            handler.answer(303, b"", "text/plain", (("Location", "/"),))
        else:
            handler.answer(status, message.encode(), "text/plain; charset=utf-8")

    def _api_request(self, handler, path, query, body):
        arrival = time.time()
        method = handler.command
        endpoint_path = path[len("/api/3"):]
        template, _, _ = self.api.route(method, endpoint_path)
        entry = self.recorder.arrive(arrival, method, path, template or "(unknown)",
                                     _logged_email(query, body))
        faults = self.faults

        # The log entry is completed before the answer goes out, so a test
        # that has its response can rely on the log already showing it.
        def reply_json(status, data, fault=None, headers=()):
            self.recorder.finish(entry, status, fault)
            handler.answer_json(status, data, headers)

        def reply_raw(status, content_type, raw, fault):
            self.recorder.finish(entry, status, fault)
            handler.answer(status, raw, content_type)

        def hang_up(fault, delay):
            time.sleep(delay)
            handler.hang_up()
            self.recorder.finish(entry, None, fault)

        down = faults.get("down")
        if down == "503":
            return reply_raw(503, "text/html; charset=utf-8", _error_page(503).encode(), "down")
        if down == "refused":  # a kept-alive connection that outlived the listener
            return hang_up("down", 0)
        if faults.get("login_page"):
            return reply_raw(200, "text/html; charset=utf-8", _LOGIN_PAGE, "login_page")
        token = handler.headers.get("Api-Token") or ""
        if not hmac.compare_digest(token.encode(), self._api_key.encode()):
            return reply_json(403, {"message": "Forbidden"})
        if faults.take_forbidden():
            return reply_json(403, {"message": "Forbidden"}, "forbidden")
        retry_after = (("Retry-After", str(faults.get("retry_after"))),)
        if faults.burst_hit():
            return reply_json(429, {"message": "Too Many Requests"}, "burst_429", retry_after)
        accepted, accepted_at = self.limiter.try_accept(faults.get("rate_limit_per_second"))
        if not accepted:
            return reply_json(429, {"message": "Too Many Requests"}, None, retry_after)
        self.recorder.accepted(accepted_at)

        time.sleep(faults.latency_seconds())
        if faults.roll("error_rate"):
            status = faults.pick_error_status()
            return reply_raw(status, "text/html; charset=utf-8", _error_page(status).encode(), "error_rate")
        if faults.roll("timeout_before_write_rate"):
            return hang_up("timeout_before_write", faults.get("timeout_seconds"))
        malformed = faults.get("malformed")
        malformed = malformed if malformed and faults.roll("malformed_rate") else None
        malformed_status = faults.get("malformed_status")
        if malformed and malformed_status:
            return reply_raw(malformed_status, *_MALFORMED_BODIES[malformed], "malformed")

        status, data = self.api.handle(method, endpoint_path, query, body)

        if faults.roll("timeout_after_write_rate"):
            return hang_up("timeout_after_write", faults.get("timeout_seconds"))
        if malformed:
            return reply_raw(status, *_MALFORMED_BODIES[malformed], "malformed")
        reply_json(status, data)


def _logged_email(query, body):
    """The email a request is about, for the log: ``contact.email`` or ``?email=``."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("contact"), dict):
        email = data["contact"].get("email")
        return email if isinstance(email, str) else None
    emails = urllib.parse.parse_qs(query).get("email")
    return emails[0] if emails else None
