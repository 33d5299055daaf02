"""``SandboxControl``: a small client for the sandbox's control API.

Tests use it to set faults and to read what the sandbox saw and stored::

    control = SandboxControl(sandbox.control_url)
    control.set_faults(timeout_after_write_rate=1.0, timeout_seconds=0.5)
    assert control.contact("Jane@Example.com")["fields"]["BADGE_NAME"] == "Jane"

Every method raises ``requests.HTTPError`` (with the sandbox's error message
in it) if the control API refuses the call.

Webhooks are delivered in the background: after an action, wait for them
with ``wait_for_deliveries``::

    control.unsubscribe("jane@example.com", reason="Too many emails")
    [delivery] = control.wait_for_deliveries(1)
    assert delivery["status"] == 200
"""

import time

import requests

# Delivery outcomes that are final (the others, "pending" and "held", are not).
FINAL_OUTCOMES = ("delivered", "failed", "dropped", "skipped")


class SandboxControl:
    """Calls ``/_sandbox/...`` on ``control_url`` (the always-up listener)."""

    def __init__(self, control_url, timeout=10):
        self.base = control_url.rstrip("/").removesuffix("/_sandbox") + "/_sandbox"
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method, path, **kwargs):
        response = self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            raise requests.HTTPError(
                f"{method} {path} -> {response.status_code}: {response.text}", response=response)
        return response.json()

    def faults(self):
        """The current fault/config object."""
        return self._call("GET", "/faults")

    def set_faults(self, **changes):
        """Update some fault/config keys; return the whole new object."""
        return self._call("PATCH", "/faults", json=changes)

    def log(self, since=0):
        """Logged API requests with ``seq`` greater than ``since``, oldest first."""
        return self._call("GET", "/log", params={"since": since})["requests"]

    def stats(self):
        return self._call("GET", "/stats")

    def reset(self, seed=None, empty=False):
        """Wipe and re-seed the data; clear log, stats and faults.

        ``empty=True`` leaves an account with no custom fields, lists or tags.
        """
        options = {} if seed is None else {"seed": seed}
        if empty:
            options["empty"] = True
        self._call("POST", "/reset", json=options)

    def contacts(self):
        """Every stored contact, as the control API's ``/contacts`` describes them."""
        return self._call("GET", "/contacts")["contacts"]

    def contact(self, email):
        """The stored contact with this email (compared case-insensitively), or None."""
        wanted = email.lower()
        return next((c for c in self.contacts() if c["email"].lower() == wanted), None)

    def catalog(self):
        """Fields (id, title, perstag, type, options as values, option_labels, relations as relids),
        tags (id, name), lists (id, name, stringid, groups as group ids)."""
        return self._call("GET", "/catalog")

    # -- the contact's actions, and the webhooks they fire -------------------

    def unsubscribe(self, email, reason="", list_stringid=None):
        """The contact unsubscribes (``initiated_from=public``): from the list ``list_stringid``,
        or from every list they are subscribed to. Returns ``{"ok", "contact", "changes": [...]}``."""
        return self._call("POST", "/unsubscribe", json=_action_body(email=email, reason=reason, list=list_stringid))

    def subscribe(self, email, list_stringid=None):
        """The contact subscribes (``public``) to ``list_stringid``, or again to every list they left."""
        return self._call("POST", "/subscribe", json=_action_body(email=email, list=list_stringid))

    def bounce(self, email, list_stringid=None):
        """A hard bounce of the contact's address (``system``), on ``list_stringid`` or each list they are on."""
        return self._call("POST", "/bounce", json=_action_body(email=email, list=list_stringid))

    def webhooks(self):
        """Registered webhooks, URLs masked, with ``active`` (false once a delivery was answered 410)."""
        return self._call("GET", "/webhooks")["webhooks"]

    def webhook_deliveries(self, since=0):
        """Delivery records with ``seq`` greater than ``since``, oldest first (one per HTTP POST)."""
        return self._call("GET", "/webhook_deliveries", params={"since": since})["deliveries"]

    def flush_webhooks(self):
        """Send the deliveries ``webhook_reverse_order`` held, newest first; return how many."""
        return self._call("POST", "/webhooks/flush")["flushed"]

    def wait_for_deliveries(self, count, since=0, timeout=10):
        """The delivery records after ``since`` once at least ``count`` exist and all are final.

        Raises ``TimeoutError`` (with what was seen) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            records = self.webhook_deliveries(since)
            if len(records) >= count and all(r["outcome"] in FINAL_OUTCOMES for r in records):
                return records
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} finished webhook deliveries, saw {records}")
            time.sleep(0.05)


def _action_body(**options):
    """The JSON body of a contact action, without the options left out."""
    return {key: value for key, value in options.items() if value not in (None, "")}
