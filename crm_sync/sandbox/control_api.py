"""The ``/_sandbox/`` control endpoints (server side). Contract: docs/sandbox.md.

They are served on both listeners, are never rate limited, never logged and
never hit by a fault, so a test can always observe and steer the sandbox.

The contact's actions (``unsubscribe``, ``subscribe``, ``bounce``) take a
JSON body from a test, or a form post from a button of the sandbox's page.
A form post whose ``Origin`` is not a loopback address is refused: another
site open in the developer's browser must not be able to press the buttons.
"""

import json
import urllib.parse

from .contact_events import ContactActionError
from .faults import FaultConfigError
from .webhook_sender import FORM
from .webhooks import is_loopback

# The contact's actions and the keys each takes (all optional but email).
CONTACT_ACTIONS = {
    "/_sandbox/unsubscribe": ("unsubscribe", {"email", "reason", "list"}),
    "/_sandbox/subscribe": ("subscribe", {"email", "list"}),
    "/_sandbox/bounce": ("bounce", {"email", "list"}),
}


def _json_body(body):
    if not body.strip():
        return {}
    return json.loads(body.decode("utf-8"))


def _since(query):
    return int(query.get("since", ["0"])[0])


class ControlApi:
    """Routes control requests to a ``Sandbox``."""

    def __init__(self, sandbox):
        self.sandbox = sandbox

    def handle(self, method, path, query_string, body):
        """``(status, body)`` for one control request."""
        query = urllib.parse.parse_qs(query_string)
        route = (method, path.rstrip("/"))
        try:
            if route == ("GET", "/_sandbox/health"):
                return 200, {"ok": True, "api_url": self.sandbox.api_url}
            if route == ("GET", "/_sandbox/faults"):
                return 200, self.sandbox.faults.snapshot()
            if route in (("PATCH", "/_sandbox/faults"), ("POST", "/_sandbox/faults")):
                return 200, self.sandbox.set_faults(_json_body(body))
            if route == ("GET", "/_sandbox/log"):
                return 200, {"requests": self.sandbox.recorder.log(_since(query))}
            if route == ("GET", "/_sandbox/stats"):
                return 200, {**self.sandbox.recorder.stats(),
                             "contact_deletions_this_month": self.sandbox.deletions_this_month()}
            if route == ("POST", "/_sandbox/reset"):
                return self._reset(_json_body(body))
            if route == ("GET", "/_sandbox/contacts"):
                return 200, {"contacts": self.sandbox.dump_contacts()}
            if route == ("GET", "/_sandbox/catalog"):
                return 200, self.sandbox.catalog()
            if method == "POST" and route[1] in CONTACT_ACTIONS:
                return self._contact_action(route[1], _json_body(body))
            if route == ("GET", "/_sandbox/webhooks"):
                return 200, {"webhooks": self.sandbox.webhooks()}
            if route == ("GET", "/_sandbox/webhook_deliveries"):
                return 200, {"deliveries": self.sandbox.sender.records(_since(query))}
            if route == ("POST", "/_sandbox/webhooks/flush"):
                return 200, {"flushed": self.sandbox.sender.flush()}
        except FaultConfigError as error:
            return 400, {"error": str(error)}
        except (ValueError, AttributeError):
            return 400, {"error": "body must be a JSON object; since must be an integer"}
        return 404, {"error": f"no control endpoint {method} {path}"}

    def _reset(self, options):
        """``{"seed": N, "empty": true}``, both optional; ``empty`` starts an account with no schema."""
        seed, empty = options.get("seed"), options.get("empty", False)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            return 400, {"error": "seed must be an integer"}
        if not isinstance(empty, bool):
            return 400, {"error": "empty must be true or false"}
        unknown = sorted(set(options) - {"seed", "empty"})
        if unknown:
            return 400, {"error": f"unknown key(s): {', '.join(unknown)}"}
        self.sandbox.reset(seed=seed, empty=empty)
        return 200, {"ok": True}

    def _contact_action(self, path, options):
        """Do what the contact did; ``{"ok": true, "contact": id, "changes": [...]}`` or an error."""
        action, allowed = CONTACT_ACTIONS[path]
        if not isinstance(options, dict):
            return 400, {"error": "body must be a JSON object"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            return 400, {"error": f"unknown key(s): {', '.join(unknown)}"}
        if not isinstance(options.get("reason", ""), str):
            return 400, {"error": "reason must be a string"}
        arguments = {"stringid" if key == "list" else key: value for key, value in options.items()}
        arguments.setdefault("email", None)
        try:
            with self.sandbox.store.transaction():
                result = getattr(self.sandbox.events, action)(**arguments)
        except ContactActionError as error:
            return error.status, {"error": str(error)}
        return 200, {"ok": True, **result}

    # -- the page's buttons --------------------------------------------------

    @staticmethod
    def is_page_action(method, path, content_type, body):
        """Whether this is a button of the page: a form post (not JSON) to one of the contact's actions."""
        return (method == "POST" and path.rstrip("/") in CONTACT_ACTIONS
                and (content_type or "").startswith(FORM) and not body.lstrip().startswith(b"{"))

    def handle_form(self, path, body, origin):
        """``(status, message)`` for a page button; 200 means done (the page is shown again)."""
        if origin and not is_loopback(urllib.parse.urlsplit(origin).hostname or ""):
            return 403, "The sandbox's buttons work only from its own page."
        fields = {key: values[0] for key, values in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        allowed = CONTACT_ACTIONS[path.rstrip("/")][1]
        options = {key: value for key, value in fields.items() if key in allowed and value != ""}
        status, data = self._contact_action(path.rstrip("/"), options)
        return status, data.get("error", "")
