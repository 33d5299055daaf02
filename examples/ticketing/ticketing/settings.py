"""Settings of the ticketing example: the least a project needs to run crm_sync.

Everything that differs between a laptop and CI comes from the environment:
DATABASE_URL (default: SQLite under var/), CELERY_BROKER_URL (default: kombu's
filesystem transport under var/, no server needed), ACTIVECAMPAIGN_URL and
ACTIVECAMPAIGN_API_KEY.
"""
import os
from pathlib import Path

import environ
from celery.schedules import crontab
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # git-ignored: the SQLite file and the filesystem broker
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="ticketing-example-not-secret")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",  # for staff logins to the admin; customers are not users
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_results",  # CELERY_RESULT_BACKEND = "django-db"
    "tickets",
    "crm_sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "ticketing.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,  # crm_sync's admin templates ship inside the package
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the workers share the file: take the write lock
    # when a transaction starts, and wait for it rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests: a file (not :memory:) so that a worker process can open it too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # the zone date fields (LAST_BADGE_CONFIRMED) are written in
USE_TZ = True
STATIC_URL = "static/"

# --- Celery: at-least-once delivery --------------------------------------
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
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest task plus the longest retry countdown, or an
        # unacknowledged message is delivered twice (system check crm_sync.W004).
        "visibility_timeout": 3600,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "max_retries": 1,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2  # a dead broker never holds up a web request
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True  # acknowledge after the task ran, not when it was received
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a killed worker's task goes back to the queue
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TIMEZONE = TIME_ZONE
# Beat's housekeeping has a queue of its own so it never waits behind a
# backlog of syncs; a worker started without -Q consumes both.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("crm_sync_beat"))
CELERY_TASK_ROUTES = {
    f"crm_sync.tasks.{name}": {"queue": "crm_sync_beat"}
    for name in ("sweep", "reconcile", "poll_resync_batches", "purge_logs", "sweep_inbox", "sweep_erasures",
                 "pull_consent")
}
CELERY_BEAT_SCHEDULE = {
    # Dispatch rows the broker never took, and retry attempts whose worker died.
    "crm-sync-sweep": {"task": "crm_sync.tasks.sweep", "schedule": 30.0},
    # Queue people whose registration changed without a post_save (queryset.update()).
    "crm-sync-reconcile": {"task": "crm_sync.tasks.reconcile", "schedule": 300.0},
    "crm-sync-resync-batches": {"task": "crm_sync.tasks.poll_resync_batches", "schedule": 60.0},
    "crm-sync-purge-logs": {"task": "crm_sync.tasks.purge_logs", "schedule": crontab(hour=3, minute=30)},
    # What comes back from AC: webhooks the broker never took, erasures due again, and the pull.
    "crm-sync-sweep-inbox": {"task": "crm_sync.tasks.sweep_inbox", "schedule": 30.0},
    "crm-sync-sweep-erasures": {"task": "crm_sync.tasks.sweep_erasures", "schedule": 30.0},
    "crm-sync-consent-pull": {"task": "crm_sync.tasks.pull_consent", "schedule": 300.0},
}

# --- crm_sync -------------------------------------------------------------
ACTIVECAMPAIGN_URL = env("ACTIVECAMPAIGN_URL", default="")
ACTIVECAMPAIGN_API_KEY = env("ACTIVECAMPAIGN_API_KEY", default="")
CRM_SYNC = {
    "PERSON_MODEL": "tickets.Customer",         # who becomes a contact (default: AUTH_USER_MODEL)
    "RECORD_MODEL": "tickets.Registration",     # required: what, once paid, makes them one
    "MAPPING": "tickets.crm.TicketingMapping",  # required: the CrmMapping subclass
    "LIST_STRINGID": "badge-maker-attendees",   # required: the AC list opted-in customers join
    # With Redis as the broker, the rate limiter and locks use it too; else the database.
    "REDIS_URL": CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"crm_sync": {"level": "INFO"}},
}
