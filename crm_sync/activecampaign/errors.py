"""What can go wrong talking to ActiveCampaign, one class per thing a caller
does differently: retry later, fix the data, fix the configuration."""


class ACError(Exception):
    """Base class. `category` is what SyncLog stores; `status` and `body` are
    AC's answer, when there was one. Never carries the API key."""

    category = "internal"
    retryable = False

    def __init__(self, message, *, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


class TransientError(ACError):
    """Worth retrying later: network errors, timeouts, 429 and 5xx."""

    category = "network"
    retryable = True


class RateLimited(TransientError):
    category = "rate_limited"

    def __init__(self, message, *, retry_after=None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(TransientError):
    category = "server_error"


class BadResponse(TransientError):
    """AC answered with something that is not the JSON its docs describe (an
    HTML page with 200, an empty body). Often a proxy or a login page, so it
    is retried rather than taken as success (RudderStack's PR #5350 lesson)."""

    category = "bad_response"


class ValidationFailed(ACError):
    """AC rejected the data (400/422): a person must fix it; not retried."""

    category = "validation"


class Conflict(ACError):
    """The email belongs to another AC contact; nothing is merged."""

    category = "conflict"


class ConfigurationError(ACError):
    """Fix the settings or the AC account: a refused API key (403), a missing
    field, list or setting. Not retried until someone acts."""

    category = "configuration"


class NotFound(ACError):
    """404: the id crm_sync holds is unknown to AC. Callers handle it."""

    category = "validation"
