"""System checks: dangerous or missing configuration, flagged at startup,
and what a production deployment must set (`check --deploy`)."""
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.checks import Error, Warning, register
from django.db import DatabaseError

from .conf import DASHBOARD_DAYS, REQUIRED, ac_account, crm_setting, missing_settings, webhook_tokens
from .connection import account_url_problem, stored_schema_report
from .mapping import crm_mapping
from .metrics import multiprocess_dir
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
            hint="Set them in the environment (docs/configuration.md; in production, docs/deploy.md).",
            id="crm_sync.W001",
        ))
    problem = account_url_problem(url) if url else None
    if problem:
        problems.append(Error(problem, hint="Use the https API URL from AC's Settings → Developer "
                                            "(docs/configuration.md; in production, docs/deploy.md).",
                              id="crm_sync.E001"))
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


# -- a production deployment: `manage.py check --deploy` (docs/deploy.md) --------------------
# Run only with --deploy: the defaults (SQLite, the filesystem broker, no
# tokens) are right on a laptop and wrong in production. Each check names the
# one setting to fix. `check --deploy --tag crm_sync` runs these alone.
DEPLOY = "crm_sync"
# The metrics endpoint's bearer token: 32 characters at least (`secrets.token_urlsafe(32)` gives 43).
METRICS_TOKEN_MIN_LENGTH = 32
EMBEDDED_BROKERS = ("filesystem://", "memory://")


def warn_unless(fine, message, hint, id):
    """A deploy check's answer: nothing when `fine`, else its one warning."""
    return [] if fine else [Warning(message, hint=hint, id=id)]


@register(DEPLOY, deploy=True)
def check_deploy_public_url(app_configs, **kwargs):
    url = crm_setting("PUBLIC_BASE_URL") or ""
    return warn_unless(
        urlsplit(url).scheme == "https",
        f"CRM_SYNC['PUBLIC_BASE_URL'] is {'not set' if not url else repr(url)}: production needs the site's "
        f"public https URL, from which the image links sent to the CRM and the webhook URL it posts to are built.",
        hint="Set it to https://<your site> (BADGEMAKER_PUBLIC_URL; docs/deploy.md).", id="crm_sync.W020",
    )


@register(DEPLOY, deploy=True)
def check_deploy_production_url(app_configs, **kwargs):
    return warn_unless(
        crm_setting("PRODUCTION_URL"),
        "CRM_SYNC['PRODUCTION_URL'] is not set: the staging guard is off, so a copy of this deployment "
        "(a staging restored from production's database) would send to the CRM as production does.",
        hint="Set it to the production site's public URL, here and on every copy (CRM_SYNC_PRODUCTION_URL; "
             "docs/deploy.md).", id="crm_sync.W021",
    )


@register(DEPLOY, deploy=True)
def check_deploy_metrics_token(app_configs, **kwargs):
    token = str(crm_setting("METRICS_TOKEN") or "")
    problem = (f"is {len(token)} characters: the bearer token Prometheus scrapes the metrics with needs at least "
               f"{METRICS_TOKEN_MIN_LENGTH} to stay unguessable." if token else
               "is not set: only logged-in staff can read the metrics; Prometheus can't scrape them.")
    return warn_unless(
        len(token) >= METRICS_TOKEN_MIN_LENGTH,
        f"CRM_SYNC['METRICS_TOKEN'] {problem}",
        hint=f"Generate one with: {GENERATE_TOKEN} (CRM_SYNC_METRICS_TOKEN; docs/deploy.md).", id="crm_sync.W022",
    )


@register(DEPLOY, deploy=True)
def check_deploy_broker(app_configs, **kwargs):
    broker = getattr(settings, "CELERY_BROKER_URL", "") or ""
    return warn_unless(
        not broker.startswith(EMBEDDED_BROKERS),
        f"CELERY_BROKER_URL is the embedded {broker.split('//')[0]}// broker: its messages stay on this "
        f"machine, and a worker killed mid-sync loses its message until the sweep finds the row.",
        hint="Set CELERY_BROKER_URL to Redis, redis://… (docs/deploy.md).", id="crm_sync.W023",
    )


@register(DEPLOY, deploy=True)
def check_deploy_database(app_configs, **kwargs):
    sqlite = [alias for alias, database in settings.DATABASES.items() if database["ENGINE"].endswith("sqlite3")]
    return warn_unless(
        not sqlite,
        f"The {' and '.join(repr(alias) for alias in sqlite)} database is SQLite: web, workers and beat take "
        f"turns at one file's write lock, and only on this machine.",
        hint="Set DATABASE_URL to PostgreSQL, postgres://… (docs/deploy.md).", id="crm_sync.W024",
    )


@register(DEPLOY, deploy=True)
def check_deploy_redis(app_configs, **kwargs):
    return warn_unless(
        crm_setting("REDIS_URL"),
        "CRM_SYNC['REDIS_URL'] is not set: every worker process takes the rate limiter's slots, the person "
        "locks and the breaker from locked database rows, which is correct but loads the database with "
        "several workers.",
        hint="Set CRM_SYNC_REDIS_URL, or use a redis:// broker, which it defaults to (docs/deploy.md).",
        id="crm_sync.W025",
    )


@register(DEPLOY, deploy=True)
def check_deploy_webhook_tokens(app_configs, **kwargs):
    return warn_unless(
        webhook_tokens(),
        "CRM_SYNC['WEBHOOK_TOKENS'] is empty: the webhook receiver refuses every delivery, so an unsubscribe "
        "in the CRM reaches this site only with the next consent pull.",
        hint=f"Generate one with: {GENERATE_TOKEN}, set CRM_SYNC_WEBHOOK_TOKENS, then run "
             f"`manage.py crm_webhooks register` (docs/deploy.md).", id="crm_sync.W026",
    )


@register(DEPLOY, deploy=True)
def check_deploy_alert_channel(app_configs, **kwargs):
    return warn_unless(
        getattr(settings, "ADMINS", None) or crm_setting("ALERT_WEBHOOK_URL"),
        "Neither ADMINS nor CRM_SYNC['ALERT_WEBHOOK_URL'] is set: crm_sync's alerts (the CRM down, syncs "
        "queued too long, retries exhausted) reach no one.",
        hint="Set DJANGO_ADMINS, CRM_SYNC_ALERT_WEBHOOK_URL or both (docs/deploy.md).", id="crm_sync.W027",
    )


@register(DEPLOY, deploy=True)
def check_deploy_metrics_directory(app_configs, **kwargs):
    # prometheus_client reads the environment, not Django's settings. (A directory that
    # does not exist is not reported here: every process fails to start without it.)
    return warn_unless(
        multiprocess_dir(),
        "PROMETHEUS_MULTIPROC_DIR is not set: each web and worker process keeps its own metrics, and a "
        "scrape sees only the one process that answered it.",
        hint="Point it at a directory the web and worker processes share, emptied before they start "
             "(docs/deploy.md).", id="crm_sync.W028",
    )
