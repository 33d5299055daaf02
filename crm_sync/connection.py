"""The one place the CRM is chosen and built from the settings: the
account's URL and key, the timeouts, the account-wide rate limiter, the
circuit breaker and the id catalog. ActiveCampaign is the one CRM today; a
second would be picked here (crm.py describes what it must offer)."""
from .activecampaign.backend import ActiveCampaignBackend, contact_url  # noqa: F401  (the admin links to contacts)
from .activecampaign.catalog import AccountCatalog, StoredIds
from .activecampaign.client import ActiveCampaignClient, api_base
from .catalog import DatabaseCatalogStore
from .conf import ac_account, crm_setting
from .errors import ConfigurationError
from .limiter import AccountRateLimiter, PatientLimiter


def make_client(*, breaker=None, patient=False, on_request=None):
    """A client for the configured account.

    `breaker`: a CircuitBreaker to consult before each request (the live
    sync's); commands go without one and report failures themselves.
    `patient`: wait out the account's rate limit however long it takes (a
    command); otherwise a long wait raises RateLimitWait for the caller to
    reschedule (a worker). `on_request` hears of every request (the client's
    docstring). Raises ConfigurationError when the URL or key is unusable.
    """
    account_url, api_key = ac_account()
    limiter = AccountRateLimiter(account_url)
    return ActiveCampaignClient(
        account_url, api_key,
        connect_timeout=crm_setting("CONNECT_TIMEOUT"),
        read_timeout=crm_setting("READ_TIMEOUT"),
        retry_after_max_wait=crm_setting("RETRY_AFTER_MAX_WAIT"),
        body_limit=crm_setting("LOG_BODY_LIMIT"),
        limiter=PatientLimiter(limiter) if patient else limiter,
        breaker=breaker,
        on_request=on_request,
    )


def make_catalog(client):
    """The account's ids, looked up through `client` and kept in the database."""
    return AccountCatalog(client, DatabaseCatalogStore(ac_account()[0]))


def backend_class():
    """The configured CRM's backend class, for what is known before one is
    built: its `name` and `bulk_limits`."""
    return ActiveCampaignBackend


def make_backend(*, breaker=None, patient=False, on_request=None, offline=False):
    """The configured CRM account as a crm.CrmBackend (make_client's arguments).

    `offline`: one that never contacts the CRM nor writes anything (the
    resync's dry run): it builds bulk rows from the ids already stored, an id
    not stored yet standing as its key, and needs no API key.
    """
    account_url = ac_account()[0]
    if offline:
        return ActiveCampaignBackend(None, StoredIds(DatabaseCatalogStore(account_url)), crm_setting("LIST_STRINGID"),
                                     account_url=account_url)
    client = make_client(breaker=breaker, patient=patient, on_request=on_request)
    return ActiveCampaignBackend(client, make_catalog(client), crm_setting("LIST_STRINGID"), account_url=account_url)


def account_url_problem(account_url):
    """Why the configured account URL can't be used, or None (a system check)."""
    try:
        api_base(account_url)
    except ConfigurationError as error:
        return str(error)
    return None
