"""System checks: dangerous or missing configuration, flagged at startup."""
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.checks import Error, Warning, register
from django.db import DatabaseError

from .conf import DASHBOARD_DAYS, REQUIRED, ac_account, crm_setting, missing_settings, webhook_tokens
from .connection import account_url_problem, stored_schema_report
from .mapping import crm_mapping
from .schema import MISSING_OPTIONS


@register()
def check_activecampaign_settings(app_configs, **kwargs):
    url, key = ac_account()
    problems = []
    if not url or not key:
        missing = " and ".join(name for name, value in
                               (("ACTIVECAMPAIGN_URL", url), ("ACTIVECAMPAIGN_API_KEY", key)) if not value)
        problems.append(Warning(
            f"{missing} not set: confirmed badges are queued but every sync will fail as a configuration error.",
            hint="Set them in the environment (docs/configuration.md).", id="crm_sync.W001",
        ))
    problem = account_url_problem(url) if url else None
    if problem:
        problems.append(Error(problem, id="crm_sync.E001"))
    return problems


@register()
def check_celery_delivery(app_configs, **kwargs):
    problems = []
    broker = getattr(settings, "CELERY_BROKER_URL", "") or ""
    if broker.startswith(("redis://", "rediss://")):
        visibility = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}).get("visibility_timeout", 3600)
        longest = (getattr(settings, "CELERY_TASK_TIME_LIMIT", None) or 300) + max(
            crm_setting("RETRY_BACKOFF_MAX"), crm_setting("BREAKER_RESET_SECONDS") * 2)
        if visibility <= longest:
            problems.append(Warning(
                f"Redis visibility_timeout ({visibility}s) is not longer than the longest task plus the longest "
                f"countdown ({longest}s): unacknowledged syncs would be delivered twice.",
                hint="Raise CELERY_VISIBILITY_TIMEOUT (docs/configuration.md).", id="crm_sync.W004",
            ))
    if not getattr(settings, "CELERY_TASK_ACKS_LATE", False):
        problems.append(Warning(
            "CELERY_TASK_ACKS_LATE is off: a worker killed mid-sync loses that sync until the sweep finds it.",
            id="crm_sync.W002",
        ))
    return problems


@register()
def check_log_retention(app_configs, **kwargs):
    retention = crm_setting("LOG_RETENTION_DAYS")
    if retention < DASHBOARD_DAYS:
        return [Warning(
            f"CRM_SYNC['LOG_RETENTION_DAYS'] is {retention}: sync attempts are deleted before the admin "
            f"dashboard's {DASHBOARD_DAYS}-day figures are complete.",
            hint=f"Keep at least {DASHBOARD_DAYS} days (CRM_SYNC_LOG_RETENTION_DAYS).", id="crm_sync.W003",
        )]
    return []


@register()
def check_host_contract(app_configs, **kwargs):
    """The settings a host project must give, and its CrmMapping."""
    problems = [
        Error(f"CRM_SYNC[{name!r}] is not set: {REQUIRED[name]}.", hint="See docs/integration.md.",
              id="crm_sync.E002")
        for name in missing_settings()
    ]
    if "MAPPING" not in missing_settings():
        try:
            crm_mapping()
        except ImproperlyConfigured as error:
            problems.append(Error(str(error), hint="See docs/integration.md.", id="crm_sync.E003"))
    return problems


@register()
def check_account_schema(app_configs, **kwargs):
    """The mapping against the CRM account as the last check or sync read
    it (the catalog in the database): no API call. Silent until something
    has been read, and before `migrate` has made the table."""
    if missing_settings():
        return []
    try:
        report = stored_schema_report()
    except (DatabaseError, ImproperlyConfigured):
        return []
    if report is None or report.fits:
        return []
    problems = "; ".join(f"{row.item}: {row.state}" + (f" ({row.detail})" if row.state == MISSING_OPTIONS else "")
                         for row in report.problems)
    return [Warning(
        f"The mapping no longer fits the CRM account as last read: {problems}.",
        hint="Run `manage.py crm_sync_schema` to check the account now, `--apply` to create what is missing "
             "(docs/runbook.md).",
        id="crm_sync.W005",
    )]


# -- the webhook receiver's tokens (docs/webhooks.md) ---------------------------------------
# 22 characters of the URL-safe alphabet (64 symbols, 6 bits each) hold 132
# bits: the least that can carry 128 bits of randomness. The alphabet is also
# all the receiver's URL accepts.
WEBHOOK_TOKEN_MIN_LENGTH = 22
WEBHOOK_TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
GENERATE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


@register()
def check_webhook_tokens(app_configs, **kwargs):
    """Each token long and random enough to be the receiver's only lock (AC
    signs nothing), at most two (the one in use and the one being rotated
    out), and never sent over plain HTTP. Messages never show a token."""
    tokens = webhook_tokens()
    problems = []
    if len(tokens) > 2:
        problems.append(Error(
            f"CRM_SYNC['WEBHOOK_TOKENS'] holds {len(tokens)} tokens: at most two are valid at once "
            f"(the current one first, the one being rotated out second).",
            hint="Remove the oldest (docs/webhooks.md, rotation).", id="crm_sync.E010",
        ))
    for number, token in enumerate(tokens, 1):
        if len(token) < WEBHOOK_TOKEN_MIN_LENGTH or not set(token) <= WEBHOOK_TOKEN_ALPHABET:
            problems.append(Error(
                f"Webhook token {number} is too weak or has characters a URL can't carry: it needs at least "
                f"{WEBHOOK_TOKEN_MIN_LENGTH} characters of A-Z, a-z, 0-9, '-' and '_' (128 bits); "
                f"it has {len(token)} characters.",
                hint=f"Generate one with: {GENERATE_TOKEN}", id="crm_sync.E011",
            ))
    url = crm_setting("WEBHOOK_URL") or crm_setting("PUBLIC_BASE_URL")
    parts = urlsplit(url or "")
    if tokens and parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        problems.append(Warning(
            "The webhook receiver's public URL is plain http: the token, its only lock, would cross the "
            "network readable by anyone on the way.",
            hint="Serve it over https (CRM_SYNC['WEBHOOK_URL'] or PUBLIC_BASE_URL).", id="crm_sync.W010",
        ))
    return problems
