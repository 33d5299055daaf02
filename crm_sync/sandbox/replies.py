"""How an endpoint stops early: the exceptions ``Api.handle`` turns into answers.

Shared by the endpoint modules (``api``, ``schema``), so none has to import
another.
"""

import json


class BadRequest(Exception):
    """The body is not JSON (or not an object): AC answers 400 with ``{}``."""


class Reply(Exception):
    """Stop handling and answer ``status`` with ``body``."""

    def __init__(self, status, body):
        super().__init__(status)
        self.status, self.body = status, body


def parse_json_object(body):
    """The JSON object in ``body`` (bytes); BadRequest if absent or malformed."""
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        raise BadRequest() from None
    if not isinstance(data, dict):
        raise BadRequest()
    return data
