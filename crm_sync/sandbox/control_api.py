"""The ``/_sandbox/`` control endpoints (server side). Contract: docs/sandbox.md.

They are served on both listeners, are never rate limited, never logged and
never hit by a fault, so a test can always observe and steer the sandbox.
"""

import json
import urllib.parse

from .faults import FaultConfigError


def _json_body(body):
    if not body.strip():
        return {}
    return json.loads(body.decode("utf-8"))


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
                since = int(query.get("since", ["0"])[0])
                return 200, {"requests": self.sandbox.recorder.log(since)}
            if route == ("GET", "/_sandbox/stats"):
                return 200, self.sandbox.recorder.stats()
            if route == ("POST", "/_sandbox/reset"):
                return self._reset(_json_body(body))
            if route == ("GET", "/_sandbox/contacts"):
                return 200, {"contacts": self.sandbox.dump_contacts()}
            if route == ("GET", "/_sandbox/catalog"):
                return 200, self.sandbox.catalog()
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
