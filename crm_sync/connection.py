"""The one place the CRM is chosen and built from the settings: the
account's URL and key, the timeouts, the account-wide rate limiter, the
circuit breaker and the id catalog. ActiveCampaign is the one CRM today; a
second would be picked here (crm.py describes what it must offer)."""
from .activecampaign.backend import ActiveCampaignBackend, contact_url  # noqa: F401  (the admin links to contacts)
from .activecampaign.catalog import AccountCatalog, StoredIds
from .activecampaign.client import ActiveCampaignClient, api_base, check_account
from .activecampaign.schema import AccountSchema, stored_report
from .catalog import DatabaseCatalogStore
from .conf import ac_account, crm_setting
from .errors import ConfigurationError
from .limiter import AccountRateLimiter, PatientLimiter, ShareLimiter
from .mapping import crm_mapping
from .metrics import hearing_requests
from .schema import ListNeed, last_report, needs_of


def make_client(*, breaker=None, patient=False, share=None, on_request=None):
    """A client for the configured account.

    `breaker`: a CircuitBreaker to consult before each request (the live
    sync's); commands go without one and report failures themselves.
    `patient`: wait out the account's rate limit however long it takes (a
    command); otherwise a long wait raises RateLimitWait for the caller to
    reschedule (a worker). `share`: a background job's low-priority share of
    the account's rate, a limiter.Share (the consent pull, the burst's imports).
    `on_request` hears of every request (the client's docstring). Raises
    ConfigurationError when the URL or key is unusable.
    """
    account_url, api_key = ac_account()
    limiter = AccountRateLimiter(account_url)
    if share is not None:
        limiter = ShareLimiter(limiter, share.fraction, patience=share.patience, job=share.job)
    elif patient:
        limiter = PatientLimiter(limiter)
    return ActiveCampaignClient(
        account_url, api_key,
        connect_timeout=crm_setting("CONNECT_TIMEOUT"),
        read_timeout=crm_setting("READ_TIMEOUT"),
        retry_after_max_wait=crm_setting("RETRY_AFTER_MAX_WAIT"),
        body_limit=crm_setting("LOG_BODY_LIMIT"),
        limiter=limiter,
        breaker=breaker,
        on_request=hearing_requests(on_request),  # counted for the metrics too
    )


def make_catalog(client):
    """The account's ids, looked up through `client` and kept in the database."""
    return AccountCatalog(client, DatabaseCatalogStore(ac_account()[0]))


def backend_class():
    """The configured CRM's backend class, for what is known before one is
    built: its `name` and `bulk_limits`."""
    return ActiveCampaignBackend


def make_backend(*, breaker=None, patient=False, share=None, on_request=None, offline=False):
    """The configured CRM account as a crm.CrmBackend (make_client's arguments).

    `offline`: one that never contacts the CRM nor writes anything (the
    resync's dry run): it builds bulk rows from the ids already stored, an id
    not stored yet standing as its key. It refuses a URL or key the others
    would refuse, with the same ConfigurationError: what was sent before is
    kept per account, so a dry run without one would tell a different story.
    """
    account_url, api_key = ac_account()
    if offline:
        check_account(account_url, api_key)
        return ActiveCampaignBackend(None, StoredIds(DatabaseCatalogStore(account_url)), crm_setting("LIST_STRINGID"),
                                     account_url=account_url)
    client = make_client(breaker=breaker, patient=patient, share=share, on_request=on_request)
    return ActiveCampaignBackend(client, make_catalog(client), crm_setting("LIST_STRINGID"), account_url=account_url)


# -- the account's schema: crm_sync_schema, the admin's schema page, the system check ----
def schema_needs(*, with_tags=True):
    """What the mapping needs of the account (crm_sync.schema.Needs), with
    the list as the settings describe it; `with_tags=False` leaves the tags
    out (reading them may query the host's tables)."""
    stringid = crm_setting("LIST_STRINGID")
    list_need = ListNeed(stringid, crm_setting("LIST_NAME") or stringid,
                         crm_setting("LIST_SENDER_URL") or crm_setting("PUBLIC_BASE_URL"),
                         crm_setting("LIST_SENDER_REMINDER"))
    return needs_of(crm_mapping(), list_need, with_tags=with_tags)


def make_schema(*, dry_run=False, on_request=None):
    """The account's schema, to check or complete, through a patient client
    (the account-wide rate limiter, no breaker) and the catalog's store.
    `dry_run`: creates nothing, records what it would send."""
    client = make_client(patient=True, on_request=on_request)
    return AccountSchema(client, make_catalog(client), schema_needs(), account_url=ac_account()[0],
                         dry_run=dry_run)


def check_schema(*, apply=False, dry_run=False):
    """Check the account against the mapping, and with `apply` (or
    `dry_run`) create what is missing. Returns the crm_sync.schema.Report,
    which is also kept for the dashboard and the system check. Raises
    ConfigurationError when the account can't be reached with the settings,
    and the client's errors when AC fails mid-way."""
    schema = make_schema(dry_run=dry_run)
    try:
        return schema.apply() if apply or dry_run else schema.check()
    finally:
        schema.close()


def last_schema_report():
    """The report the last check kept for the configured account, or None."""
    return last_report(DatabaseCatalogStore(ac_account()[0]))


def stored_schema_report():
    """How the mapping fits the account as last read by a check or a sync,
    from the database alone (no API call, no API key needed); None when
    nothing is stored yet. Tags are not looked at."""
    account_url = ac_account()[0]
    return stored_report(DatabaseCatalogStore(account_url), schema_needs(with_tags=False), account_url)


def account_url_problem(account_url):
    """Why the configured account URL can't be used, or None (a system check)."""
    try:
        api_base(account_url)
    except ConfigurationError as error:
        return str(error)
    return None
