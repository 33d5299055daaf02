"""Badge Maker settings.

Everything that differs between a laptop, CI and production comes from the
environment (django-environ); nothing here needs editing to switch database,
broker or ActiveCampaign account. See docs/configuration.md.
"""
import os
from pathlib import Path

import environ
from celery.schedules import crontab
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # git-ignored: SQLite files, the embedded broker, uploads
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
# The checkout's .env (scripts/start.sh writes the running demo's settings there, for commands
# in another shell). A variable already in the environment wins over it. A test run ignores it,
# and so does every process a test starts (pytest sets PYTEST_VERSION for them all), so a demo's
# .env never changes what the tests see.
if (BASE_DIR / ".env").exists() and "PYTEST_VERSION" not in os.environ:
    environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_results",
    "badgemaker.accounts",
    "badgemaker.badges",
    "crm_sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "badgemaker.urls"
WSGI_APPLICATION = "badgemaker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "badgemaker" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file: take the write
    # lock when a transaction starts instead of failing with "database is
    # locked" when two readers both try to write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not :memory:, so that a worker process started by a test sees
    # the test database; one per test run, so that two runs never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "badges:home"
LOGOUT_REDIRECT_URL = "badges:home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]

LANGUAGE_CODE = "en-gb"
# Times to the second everywhere (badgemaker/formats/en): a locale's own
# formats beat DATETIME_FORMAT here, so the project's formats module does.
FORMAT_MODULE_PATH = "badgemaker.formats"
TIME_ZONE = env("TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# --- Celery -------------------------------------------------------------
# The default broker is kombu's filesystem transport: it needs no server, so
# a fresh clone runs as it is. Production and CI set CELERY_BROKER_URL to Redis.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # kombu sleeps this long whenever the workers' prefetch is full: with its
        # default of 1 s the pool takes a few messages a second, plenty for the
        # demo; the crowd bench sets 0.1 (docs/performance.md).
        "polling_interval": env.float("CELERY_FILESYSTEM_POLLING_INTERVAL", default=1.0),
    }
    # kombu's transport with atomic writes (see filesystem_broker.py).
    CELERY_BROKER_TRANSPORT = "badgemaker.filesystem_broker:Transport"
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Must exceed the longest task plus the longest retry countdown, or an
        # unacked message is delivered a second time (anchors.md B.1).
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        # Without these a stalled Redis blocks a publish in the web request.
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "max_retries": 1,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=7 * 24 * 3600)
# Results keep the task's arguments (ids only, never personal data) for the admin's Task results page.
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE
# Beat's housekeeping (sweep, reconcile, …) has a queue of its own, so that it
# never waits behind a backlog of syncs. A worker started without -Q consumes
# every queue listed here.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("crm_sync_beat"))
CELERY_TASK_ROUTES = {
    f"crm_sync.tasks.{name}": {"queue": "crm_sync_beat"}
    for name in ("sweep", "reconcile", "poll_resync_batches", "purge_logs", "sweep_inbox", "sweep_erasures",
                 "pull_consent", "evaluate_alerts")
}
CELERY_BEAT_SCHEDULE = {
    "crm-sync-sweep": {
        "task": "crm_sync.tasks.sweep",
        "schedule": env.float("CRM_SYNC_SWEEP_INTERVAL", default=30.0),
    },
    "crm-sync-reconcile": {
        "task": "crm_sync.tasks.reconcile",
        "schedule": env.float("CRM_SYNC_RECONCILE_INTERVAL", default=300.0),
    },
    # Bulk batches left in flight (a resync stopped, a worker killed mid-burst), and bursts' waiting rows.
    "crm-sync-resync-batches": {
        "task": "crm_sync.tasks.poll_resync_batches",
        "schedule": env.float("CRM_SYNC_BULK_POLL_INTERVAL", default=30.0),
    },
    "crm-sync-purge-logs": {"task": "crm_sync.tasks.purge_logs", "schedule": crontab(hour=3, minute=30)},
    # Inbox rows (the CRM's webhooks) the broker never took, and failed ones due again.
    "crm-sync-sweep-inbox": {
        "task": "crm_sync.tasks.sweep_inbox",
        "schedule": env.float("CRM_SYNC_SWEEP_INTERVAL", default=30.0),
    },
    # Erasures due again: AC's monthly deletion cap (hourly), retries whose message was lost.
    "crm-sync-sweep-erasures": {
        "task": "crm_sync.tasks.sweep_erasures",
        "schedule": env.float("CRM_SYNC_SWEEP_INTERVAL", default=30.0),
    },
    # The safety net under the webhooks: what changed on the list since the last pull
    # (docs/webhooks.md). Its interval is also CRM_SYNC["PULL_INTERVAL"] below.
    "crm-sync-consent-pull": {
        "task": "crm_sync.tasks.pull_consent",
        "schedule": env.float("CRM_SYNC_PULL_INTERVAL", default=300.0),
    },
    # The alert rules (docs/operations.md#alerts): each alert is sent once when it starts and once when it ends.
    "crm-sync-alerts": {
        "task": "crm_sync.tasks.evaluate_alerts",
        "schedule": env.float("CRM_SYNC_ALERT_INTERVAL", default=60.0),
    },
}

# --- crm_sync -----------------------------------------------------------
ACTIVECAMPAIGN_URL = env("ACTIVECAMPAIGN_URL", default="")
ACTIVECAMPAIGN_API_KEY = env("ACTIVECAMPAIGN_API_KEY", default="")
CRM_SYNC = {
    "RECORD_MODEL": "badges.Badge",
    "MAPPING": "badgemaker.crm_mapping.BadgeMakerMapping",
    "LIST_STRINGID": "badge-maker-attendees",
    # Used only when `manage.py crm_sync_schema --apply` creates the list (docs/runbook.md).
    "LIST_NAME": "Badge Maker Attendees",
    "LIST_SENDER_REMINDER": ("You are receiving this because you confirmed a badge and agreed to hear "
                             "from the organisers."),
    "PUBLIC_BASE_URL": env("BADGEMAKER_PUBLIC_URL", default="http://127.0.0.1:8000"),
    "PHONE_REGION": env("CRM_SYNC_PHONE_REGION", default="GB"),
    "REDIS_URL": env(
        "CRM_SYNC_REDIS_URL",
        default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
    ),
    "QUEUED_SWEEP_AFTER": env.float("CRM_SYNC_QUEUED_SWEEP_AFTER", default=60.0),
    "REDISPATCH_AFTER": env.float("CRM_SYNC_REDISPATCH_AFTER", default=600.0),
    "MAX_ATTEMPTS": env.int("CRM_SYNC_MAX_ATTEMPTS", default=15),
    "RETRY_BACKOFF_BASE": env.float("CRM_SYNC_RETRY_BACKOFF_BASE", default=2.0),
    "RETRY_BACKOFF_MAX": env.float("CRM_SYNC_RETRY_BACKOFF_MAX", default=300.0),
    "CONNECT_TIMEOUT": env.float("CRM_SYNC_CONNECT_TIMEOUT", default=3.05),
    "READ_TIMEOUT": env.float("CRM_SYNC_READ_TIMEOUT", default=10.0),
    "RATE_LIMIT_PER_SECOND": env.float("CRM_SYNC_RATE_LIMIT", default=5.0),
    "RUNNING_TIMEOUT": env.float("CRM_SYNC_RUNNING_TIMEOUT", default=180.0),
    "BREAKER_FAILURES": env.int("CRM_SYNC_BREAKER_FAILURES", default=5),
    "BREAKER_RESET_SECONDS": env.float("CRM_SYNC_BREAKER_RESET", default=30.0),
    "PAUSED": env.bool("CRM_SYNC_PAUSED", default=False),
    # Bursts of new people through the bulk importer (docs/performance.md, "Bursts").
    "BURST_SWITCH": env.bool("CRM_SYNC_BURST_SWITCH", default=True),
    "BURST_IMPORT_SECONDS": env.float("CRM_SYNC_BURST_IMPORT_SECONDS", default=15.0),
    "BURST_COLLECT_SECONDS": env.float("CRM_SYNC_BURST_COLLECT_SECONDS", default=2.0),
    # The staging guard (docs/operations.md): not production means no sending until resumed on purpose.
    "PRODUCTION_URL": env("CRM_SYNC_PRODUCTION_URL", default=""),
    "ENVIRONMENT": env("CRM_SYNC_ENVIRONMENT", default=""),
    "SEND_IN_ENVIRONMENTS": env.list("CRM_SYNC_SEND_IN_ENVIRONMENTS", default=[]),
    # The health check's limit on the oldest queued sync, in seconds.
    "HEALTH_MAX_QUEUED_AGE": env.float("CRM_SYNC_HEALTH_MAX_QUEUED_AGE", default=600.0),
    # Prometheus's bearer token for /crm/metrics/ ("" = logged-in staff only; docs/operations.md).
    "METRICS_TOKEN": env("CRM_SYNC_METRICS_TOKEN", default=""),
    "LOG_RETENTION_DAYS": env.int("CRM_SYNC_LOG_RETENTION_DAYS", default=90),
    "REDACT_AFTER_DAYS": env.int("CRM_SYNC_REDACT_AFTER_DAYS", default=30),
    # An erasure AC refuses for its monthly deletion cap is tried again this often (docs/runbook.md).
    "ERASURE_RETRY_SECONDS": env.int("CRM_SYNC_ERASURE_RETRY_SECONDS", default=3600),
    # The CRM's webhooks (docs/webhooks.md): up to two secret tokens, comma-separated, the
    # one to register first; and the receiver's public URL without the token ("" = from
    # BADGEMAKER_PUBLIC_URL and crm/ below).
    "WEBHOOK_TOKENS": env.list("CRM_SYNC_WEBHOOK_TOKENS", default=[]),
    "WEBHOOK_URL": env("CRM_SYNC_WEBHOOK_URL", default=""),
    # The pull asks what changed since its last run, every this many seconds (beat's schedule above).
    "PULL_INTERVAL": env.float("CRM_SYNC_PULL_INTERVAL", default=300.0),
    # Alerts (docs/operations.md#alerts): thresholds, the hold against flapping, and the chat webhook
    # (a secret; "" = email to ADMINS only).
    "ALERT_FIRST_PASS_RATE": env.float("CRM_SYNC_ALERT_FIRST_PASS_RATE", default=0.99),
    "ALERT_MIN_ATTEMPTS": env.int("CRM_SYNC_ALERT_MIN_ATTEMPTS", default=20),
    "ALERT_QUEUED_AGE": env.float("CRM_SYNC_ALERT_QUEUED_AGE", default=600.0),
    "ALERT_BREAKER_OPEN_SECONDS": env.float("CRM_SYNC_ALERT_BREAKER_OPEN_SECONDS", default=300.0),
    "ALERT_WINDOW_SECONDS": env.float("CRM_SYNC_ALERT_WINDOW_SECONDS", default=3600.0),
    "ALERT_HOLD_SECONDS": env.float("CRM_SYNC_ALERT_HOLD_SECONDS", default=120.0),
    "ALERT_HOLD_SECONDS_BY_RULE": env.dict("CRM_SYNC_ALERT_HOLD_SECONDS_BY_RULE", default={}),
    "ALERT_WEBHOOK_URL": env("CRM_SYNC_ALERT_WEBHOOK_URL", default=""),
    "ALERT_CHANNEL_TIMEOUT": env.float("CRM_SYNC_ALERT_CHANNEL_TIMEOUT", default=5.0),
}

# Email: crm_sync's alerts go to ADMINS (docs/operations.md#alerts). EMAIL_BACKEND
# django.core.mail.backends.filebased.EmailBackend with EMAIL_FILE_PATH writes each
# message to a file instead, to try the alerts by hand.
ADMINS = [("", address) for address in env.list("DJANGO_ADMINS", default=[])]
SERVER_EMAIL = env("DJANGO_SERVER_EMAIL", default="badgemaker@localhost")
EMAIL_SUBJECT_PREFIX = env("DJANGO_EMAIL_SUBJECT_PREFIX", default="[Badge Maker] ")
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"crm_sync": {"level": env("CRM_SYNC_LOG_LEVEL", default="INFO"), "propagate": True}},
}
