"""``SandboxControl``: a small client for the sandbox's control API.

Tests use it to set faults and to read what the sandbox saw and stored::

    control = SandboxControl(sandbox.control_url)
    control.set_faults(timeout_after_write_rate=1.0, timeout_seconds=0.5)
    assert control.contact("Jane@Example.com")["fields"]["BADGE_NAME"] == "Jane"

Every method raises ``requests.HTTPError`` (with the sandbox's error message
in it) if the control API refuses the call.
"""

import requests


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
