"""crm_sync's settings, read at call time (never at import) so that
`override_settings` works in tests.

The project's settings hold one dict, `CRM_SYNC`, plus the CRM account's
URL and key (`ACTIVECAMPAIGN_URL`, `ACTIVECAMPAIGN_API_KEY`). See
docs/configuration.md. Settings without a default (`REQUIRED`) must be
given by the host project; a system check names any that are missing.
"""
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The host project must name these; there is no sensible default.
REQUIRED = {
    # The model whose confirmation makes its person a contact, "app_label.Model".
    "RECORD_MODEL": "the model whose confirmation syncs its person, e.g. 'badges.Badge'",
    # The host's CrmMapping subclass, by dotted path.
    "MAPPING": "your CrmMapping subclass, e.g. 'myproject.crm.MyMapping'",
    # The list opted-in people are subscribed to, by its stringid.
    "LIST_STRINGID": "the stringid of the CRM list opted-in people join",
}

DEFAULTS = {
    # The model of the people synced; the auth user model when not given.
    "PERSON_MODEL": "",
    # Absolute URLs for uploaded images are built from this.
    "PUBLIC_BASE_URL": "",
    # -- the list, when `crm_sync_schema --apply` creates it (docs/runbook.md) --
    # Its name in the CRM's UI; "" means the stringid.
    "LIST_NAME": "",
    # The sender details the CRM requires of a list: the site people signed
    # up on ("" means PUBLIC_BASE_URL) and why they receive the emails.
    "LIST_SENDER_URL": "",
    "LIST_SENDER_REMINDER": "You are receiving this because you signed up with us and agreed to hear from us.",
    # Region used to read phone numbers typed without a country code ("GB");
    # empty means such numbers are not sent.
    "PHONE_REGION": "",
    # Redis for the limiter, locks and shared caches; "" means the database.
    "REDIS_URL": "",
    # AC's account-wide limit is 5 requests per second (docs/activecampaign.md §2).
    "RATE_LIMIT_PER_SECOND": 5.0,
    # The limiter may wait this long inside an attempt; longer waits reschedule the row.
    "RATE_LIMIT_MAX_WAIT": 2.0,
    # A 429's Retry-After is waited out in the client up to this many seconds.
    "RETRY_AFTER_MAX_WAIT": 5.0,
    "CONNECT_TIMEOUT": 3.05,
    "READ_TIMEOUT": 10.0,
    # Attempts per sync before it is left failed, and the backoff between them
    # (about 2, 4, 8 … capped at 5 minutes: some 40 minutes of retrying in all).
    # Each attempt keeps what it got through, so a flaky AC needs few of them.
    "MAX_ATTEMPTS": 15,
    "RETRY_BACKOFF_BASE": 2.0,
    "RETRY_BACKOFF_MAX": 300.0,
    # The beat sweep dispatches rows the broker never took (a failed publish)
    # once they are this many seconds overdue…
    "QUEUED_SWEEP_AFTER": 60.0,
    # …and dispatches again rows the broker took but no worker started after
    # this long (messages lost when a broker restarted empty). Shorter means
    # faster recovery but duplicate messages for rows merely waiting in a backlog.
    "REDISPATCH_AFTER": 600.0,
    # How long a sync waits for another sync of the same person before rescheduling.
    "PERSON_LOCK_WAIT": 10.0,
    "PERSON_LOCK_TTL": 180.0,
    # Circuit breaker: open after this many failures in a row; probe AC once per interval.
    "BREAKER_FAILURES": 5,
    "BREAKER_RESET_SECONDS": 30.0,
    # A row delivered to workers that died this many times in a row stops as `poison`.
    "POISON_AFTER": 5,
    # A row `running` for longer than this (the task's hard time limit plus a margin) lost its worker.
    "RUNNING_TIMEOUT": 180.0,
    # Pause sending without losing anything (also switchable at run time: crm_sync_status --pause).
    "PAUSED": False,
    # -- the staging guard (crm_sync/staging_guard.py, docs/operations.md) ------
    # The production site's public URL. Anywhere else (PUBLIC_BASE_URL another
    # scheme, host or port) crm_sync pauses itself until an operator resumes
    # on purpose. "" turns the guard off (`check --deploy` warns).
    "PRODUCTION_URL": "",
    # This deployment's name ("staging", "production"…), and the names
    # allowed to send whatever the URL (a staging with its own CRM account).
    "ENVIRONMENT": "",
    "SEND_IN_ENVIRONMENTS": [],
    # -- the health check (crm_sync/health.py) --------------------------------
    # The oldest queued SyncLog row older than this many seconds is unhealthy.
    "HEALTH_MAX_QUEUED_AGE": 600.0,
    # A bulk import batch the CRM has not finished this many seconds after it
    # was sent is given up on: its rows fail, and the next resync sends them again.
    "BULK_IMPORT_DEADLINE": 6 * 3600.0,
    # -- the burst switch (crm_sync/burst.py, docs/performance.md) --------------
    # New people go to the bulk importer while the queue would take longer to
    # clear one by one than an import takes (measured on the account's recent imports).
    "BURST_SWITCH": True,
    # An import's time assumed until the account's first import is measured.
    "BURST_IMPORT_SECONDS": 15.0,
    # How long rows are collected before a drain sends them (more in one request).
    "BURST_COLLECT_SECONDS": 2.0,
    # The share of RATE_LIMIT_PER_SECOND a burst's imports and polls may
    # take, at most (0.1 of AC's 5 a second: one every 2 s); the per-person
    # path keeps the rest.
    "BURST_BULK_SHARE": 0.1,
    # New people synced one by one at the same time, at most: AC's rate lets
    # about one new contact a second through, and the other worker
    # processes stay free for people already in the CRM.
    "BURST_NEW_AT_ONCE": 2,
    # Characters of AC's answer kept per request in a SyncLog row.
    "LOG_BODY_LIMIT": 2000,
    # -- the admin dashboard (docs/admin.md) ------------------------------
    # The organisers' targets shown next to the dashboard's figures.
    "DASHBOARD_COMPLETENESS_TARGET": 0.95,
    "DASHBOARD_OPT_IN_TARGET": 0.90,
    # -- keeping data in check --------------------------------------------
    # SyncLog rows are deleted after this many days, and their personal
    # values blanked after REDACT_AFTER_DAYS; both run daily (retention.py).
    "LOG_RETENTION_DAYS": 90,
    "REDACT_AFTER_DAYS": 30,
    "PURGE_BATCH_SIZE": 500,
    # -- the safety net under the webhooks: the pull (crm_sync/pull.py, docs/webhooks.md) --
    # Every this many seconds beat asks the CRM which contacts' status on the
    # list changed since the last pull: an unsubscribe whose webhook was lost
    # arrives within one interval. The host's beat schedule runs it this often.
    "PULL_INTERVAL": 300.0,
    # The pull's low-priority share of RATE_LIMIT_PER_SECOND: the live syncs
    # keep the rest whatever the pull does.
    "PULL_RATE_SHARE": 0.2,
    # A pull request whose slot is further away than this stops the pull;
    # the next one carries on from the same point.
    "PULL_MAX_WAIT": 30.0,
    # -- erasure (crm_sync/erasure.py, docs/runbook.md) ------------------------
    # An erasure the CRM refuses for a configuration reason (its monthly cap
    # on deletions, a refused key) is tried again this often until it goes.
    "ERASURE_RETRY_SECONDS": 3600,
    # -- alerts (crm_sync/alerts.py, docs/operations.md#alerts) -----------------
    # Beat evaluates every rule each CRM_SYNC_ALERT_INTERVAL; an alert is
    # sent once when its condition starts and once when it ends.
    # First attempts in the last hour that ended success or skipped, as a
    # share: under this, the first-pass rule fires…
    "ALERT_FIRST_PASS_RATE": 0.99,
    # …provided at least this many first attempts finished in that hour
    # (one failure among three attempts is not an incident).
    "ALERT_MIN_ATTEMPTS": 20,
    # The oldest queued SyncLog row older than this many seconds.
    "ALERT_QUEUED_AGE": 600.0,
    # The breaker open (AC down) longer than this many seconds; a refused
    # key (reason configuration) alerts at once.
    "ALERT_BREAKER_OPEN_SECONDS": 300.0,
    # How far back the event rules look (retries exhausted, a bulk batch
    # failed): such an alert ends when nothing new happened for this long.
    "ALERT_WINDOW_SECONDS": 3600.0,
    # A condition that can flap (the first-pass rate, the queue's age) must
    # hold this many seconds before its alert is sent; shorter blips send nothing.
    "ALERT_HOLD_SECONDS": 120.0,
    # Per-rule holds, overriding the above, e.g. {"retries_exhausted": 600}.
    # Rules: first_pass_rate, queued_too_long, breaker_open, retries_exhausted, bulk_batch_failed.
    "ALERT_HOLD_SECONDS_BY_RULE": {},
    # A chat incoming webhook (Slack's shape: {"text": …, "blocks": …}) that
    # receives every alert and recovery; "" = email only. A secret: never logged whole.
    "ALERT_WEBHOOK_URL": "",
    # Seconds each channel may take (the webhook's connect and read, the mail server's socket).
    "ALERT_CHANNEL_TIMEOUT": 5.0,
    # -- metrics (crm_sync/metrics.py, docs/operations.md#metrics) --------------
    # The bearer token Prometheus sends to `metrics/` (`Authorization: Bearer
    # <token>`); "" lets only logged-in staff see it. A secret, at least 32
    # characters (`secrets.token_urlsafe(32)`); never logged.
    "METRICS_TOKEN": "",
    # -- what the CRM tells us: the webhook receiver (docs/webhooks.md) ------
    # The secret path segments the receiver accepts: at most two at once, so
    # that a token can be rotated without losing an event; the first is the
    # one registered with the CRM. Each at least 22 URL-safe characters
    # (128 bits; `secrets.token_urlsafe(32)` gives 43). None: every
    # delivery gets a 404.
    "WEBHOOK_TOKENS": [],
    # The receiver's public URL without the token, as the CRM must post to it
    # (`crm_webhooks register`); "" means PUBLIC_BASE_URL plus the path where
    # the host project includes crm_sync.urls.
    "WEBHOOK_URL": "",
}

# Where the receiver lives inside crm_sync.urls: `<this><token>/`.
WEBHOOK_PATH = "webhooks/activecampaign/"


# The admin dashboard's longest window; retention must keep at least this much.
DASHBOARD_DAYS = 30


def crm_setting(name):
    """Return one crm_sync setting, falling back to its default. A required
    setting that is missing raises ImproperlyConfigured naming it."""
    given = getattr(settings, "CRM_SYNC", {}) or {}
    if name in REQUIRED:
        if not given.get(name):
            raise ImproperlyConfigured(f"CRM_SYNC[{name!r}] is not set: {REQUIRED[name]} (docs/configuration.md)")
        return given[name]
    if name not in DEFAULTS:
        raise KeyError(f"Unknown crm_sync setting {name!r}")
    return given.get(name, DEFAULTS[name])


def missing_settings():
    """The required settings the host project has not given."""
    given = getattr(settings, "CRM_SYNC", {}) or {}
    return [name for name in REQUIRED if not given.get(name)]


def record_model_label():
    """The record model, "app_label.Model". Read when models load, so a
    missing one raises at once, naming the setting."""
    return crm_setting("RECORD_MODEL")


def person_model_label():
    return crm_setting("PERSON_MODEL") or settings.AUTH_USER_MODEL


def webhook_tokens():
    """The webhook tokens configured, blanks left out (an empty environment
    variable gives [""])."""
    tokens = crm_setting("WEBHOOK_TOKENS") or []
    if isinstance(tokens, str):
        tokens = tokens.split(",")
    return [str(token).strip() for token in tokens if str(token).strip()]


def ac_account():
    """Return (api_url, api_key) for the ActiveCampaign account, '' where unset."""
    url = (getattr(settings, "ACTIVECAMPAIGN_URL", "") or "").strip().rstrip("/")
    return url, getattr(settings, "ACTIVECAMPAIGN_API_KEY", "") or ""
