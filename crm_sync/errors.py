"""What can go wrong talking to a CRM, one class per thing a caller does
differently: retry later, fix the data, fix the configuration. The CRM's
client raises them (the AC package's client for AC).

`Category` names every outcome a SyncLog row can record as its error
category, including the ones that do not come from AC (a worker that died,
a bug in crm_sync), so that the values are written in one place.
"""
from enum import StrEnum


class Category(StrEnum):
    """The error categories SyncLog stores (`SyncLog.Category` offers them as choices)."""

    NETWORK = "network"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    BAD_RESPONSE = "bad_response"
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    IMPORT_FAILED = "import_failed"
    CONFIGURATION = "configuration"
    WORKER_LOST = "worker_lost"
    POISON = "poison"
    INTERNAL = "internal"


class CrmError(Exception):
    """Base class. `category` is what SyncLog stores; `status` and `body` are
    the CRM's answer, when there was one. Never carries the API key.
    `retryable` is the class's unless the one raising it knows better."""

    category = Category.INTERNAL
    retryable = False

    def __init__(self, message, *, status=None, body=None, retryable=None):
        super().__init__(message)
        self.status = status
        self.body = body
        if retryable is not None:
            self.retryable = retryable


class TransientError(CrmError):
    """Worth retrying later: network errors, timeouts, 429 and 5xx."""

    category = Category.NETWORK
    retryable = True


class RateLimited(TransientError):
    category = Category.RATE_LIMITED

    def __init__(self, message, *, retry_after=None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(TransientError):
    category = Category.SERVER_ERROR


class BadResponse(TransientError):
    """AC answered with something that is not the JSON its docs describe (an
    HTML page with 200, an empty body). Often a proxy or a login page, so it
    is retried rather than taken as success (RudderStack's PR #5350 lesson)."""

    category = Category.BAD_RESPONSE


class ValidationFailed(CrmError):
    """AC rejected the data (400/422): a person must fix it; not retried."""

    category = Category.VALIDATION


class Conflict(CrmError):
    """The email belongs to another AC contact; nothing is merged."""

    category = Category.CONFLICT


class ConfigurationError(CrmError):
    """Fix the settings or the AC account: a refused API key (403), a missing
    field, list or setting. Not retried until someone acts."""

    category = Category.CONFIGURATION


class KeyRefused(ConfigurationError):
    """The CRM refused the API key: a 401 or 403 (after one more try: AC
    refuses a valid key now and then), or a login page where JSON was
    expected, which is how AC answers a wrong or expired key. The circuit
    breaker opens in its configuration state until someone fixes the key."""


class NotFound(CrmError):
    """404: the id crm_sync holds is unknown to AC. Callers handle it."""

    category = Category.NOT_FOUND


class ContactGone(TransientError):
    """The contact crm_sync knew was deleted in the CRM; the next attempt creates it again."""


# -- the bulk importer (crm_sync/importer.py) ----------------------------------
class BulkRateLimited(RateLimited):
    """The CRM's bulk importer has used up its own budget of requests (AC
    answers "Rate limit exceeded." with a 400); send again after
    `retry_after` seconds."""


class RowsRejected(ValidationFailed):
    """The CRM's bulk importer refused a whole request for the data in it.
    `rows`: {index of the row in the request: the CRM's reason} for the rows
    it named, empty when it named none; `reason`: what it said, in a line."""

    def __init__(self, message, *, rows=None, reason="", **kw):
        super().__init__(message, **kw)
        self.rows = dict(rows or {})
        self.reason = reason or message


class NotBulkable(ValueError):
    """The CRM's bulk importer cannot carry this contact (an attribute it has
    no name for): it goes one by one."""
