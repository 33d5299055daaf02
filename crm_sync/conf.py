"""crm_sync's settings, read at call time (never at import) so that
`override_settings` works in tests.

The project's settings hold one dict, `CRM_SYNC`, plus the two AC settings
`ACTIVECAMPAIGN_URL` and `ACTIVECAMPAIGN_API_KEY`. See docs/configuration.md.
"""
from django.conf import settings

DEFAULTS = {
    # Which models crm_sync listens to, and the module that maps them to AC.
    "BADGE_MODEL": "badges.Badge",
    "MAPPING": "badgemaker.crm_mapping",
    # Absolute URLs for uploaded images are built from this.
    "PUBLIC_BASE_URL": "",
    # Region used to read phone numbers typed without a country code.
    "PHONE_REGION": "GB",
    # Redis for the limiter, locks and shared caches; "" means the database.
    "REDIS_URL": "",
    # AC's account-wide limit is 5 requests per second (API.md §2).
    "RATE_LIMIT_PER_SECOND": 5.0,
    # The limiter may wait this long inside an attempt; longer waits reschedule the row.
    "RATE_LIMIT_MAX_WAIT": 2.0,
    # A 429's Retry-After is waited out in the client up to this many seconds.
    "RETRY_AFTER_MAX_WAIT": 5.0,
    "CONNECT_TIMEOUT": 3.05,
    "READ_TIMEOUT": 10.0,
    # Attempts per sync before it is left failed, and the backoff between them.
    "MAX_ATTEMPTS": 8,
    "RETRY_BACKOFF_BASE": 2.0,
    "RETRY_BACKOFF_MAX": 60.0,
    # The beat sweep re-dispatches rows still queued and not started after this many seconds.
    "QUEUED_SWEEP_AFTER": 60.0,
    # How long a sync waits for another sync of the same person before rescheduling.
    "PERSON_LOCK_WAIT": 10.0,
    "PERSON_LOCK_TTL": 180.0,
    # The list attendees who opt in are subscribed to, by its stringid.
    "LIST_STRINGID": "badge-maker-attendees",
    # Characters of AC's answer kept per request in a SyncLog row.
    "LOG_BODY_LIMIT": 2000,
}


def crm_setting(name):
    """Return one crm_sync setting, falling back to its default."""
    if name not in DEFAULTS:
        raise KeyError(f"Unknown crm_sync setting {name!r}")
    return getattr(settings, "CRM_SYNC", {}).get(name, DEFAULTS[name])


def ac_account():
    """Return (api_url, api_key) for the ActiveCampaign account, '' where unset."""
    url = (getattr(settings, "ACTIVECAMPAIGN_URL", "") or "").strip().rstrip("/")
    return url, getattr(settings, "ACTIVECAMPAIGN_API_KEY", "") or ""
