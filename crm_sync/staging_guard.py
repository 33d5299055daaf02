"""The staging guard: a copy of the site that is not production never writes
to the production CRM by accident.

A staging server restored from production's database, with production's
`.env`, would otherwise send every attendee again, erase contacts, register
its own webhook. So when `CRM_SYNC["PRODUCTION_URL"]` is set and this
deployment's `PUBLIC_BASE_URL` is another site (scheme, host and port
compared, normalised), crm_sync pauses itself: `attempts.pause_state` asks
`reason()`, so every sender that honours the pause stops, rows queue up and
nothing is lost.

Two ways to send anyway, both on purpose:
- this deployment's `ENVIRONMENT` is one of `SEND_IN_ENVIRONMENTS` (a
  staging set up with its own CRM sandbox account);
- an operator resumes (`crm_sync_status --resume`): `override()` records,
  in SharedState, that this public URL may send, so a restart still sends.
  The override names the URL it was given for: moved to yet another URL,
  the guard trips again.

`PRODUCTION_URL` "" turns the guard off (the demo and the tests);
`manage.py check --deploy` warns about that.
"""
from urllib.parse import urlsplit

from django.utils import timezone

from .conf import crm_setting
from .models import SharedState

OVERRIDE = "staging_guard_override"
DEFAULT_PORTS = {"http": 80, "https": 443}
# How reason() ends; `crm_sync_status --resume` reports the rest as overridden.
RESUME_HINT = "; resume on purpose to send from here"


def site_of(url):
    """(scheme, host, port) of `url`, normalised: lower case, no trailing
    dot, the scheme's default port filled in. None for "" or a URL without
    a host."""
    parts = urlsplit((url or "").strip())
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return None
    return scheme, host, port


def site_text(site):
    return f"{site[0]}://{site[1]}:{site[2]}" if site else "(not set)"


def reason():
    """Why the guard stops sending here, or "" when it does not: the guard
    is off, this is production, this environment may send, or an operator
    overrode it for this URL."""
    production_url = crm_setting("PRODUCTION_URL")
    if not production_url:
        return ""
    here, production = site_of(crm_setting("PUBLIC_BASE_URL")), site_of(production_url)
    if here is not None and here == production:
        return ""
    environment = crm_setting("ENVIRONMENT")
    if environment and environment in allowed_environments():
        return ""
    if overridden(here):
        return ""
    return (f"staging guard: this site ({site_text(here)}, PUBLIC_BASE_URL) is not production "
            f"({site_text(production)}, PRODUCTION_URL)"
            + (f", and environment {environment!r} is not in SEND_IN_ENVIRONMENTS" if environment else "")
            + RESUME_HINT)


def allowed_environments():
    """SEND_IN_ENVIRONMENTS as a list (an environment variable gives a comma-separated string)."""
    names = crm_setting("SEND_IN_ENVIRONMENTS") or []
    if isinstance(names, str):
        names = names.split(",")
    return [str(name).strip() for name in names if str(name).strip()]


def overridden(here):
    """Whether an operator allowed `here`, this deployment's site_of(PUBLIC_BASE_URL), to send."""
    data = SharedState.objects.filter(name=OVERRIDE).values_list("data", flat=True).first()
    return bool(data) and data.get("site") == site_text(here)


def override():
    """Allow this public URL to send from now on, whatever the guard says
    (an operator resuming on purpose). Returns the reason overridden, or ""
    when the guard did not trip and nothing was recorded."""
    why = reason()
    if why:
        SharedState.objects.update_or_create(name=OVERRIDE, defaults={"data": {
            "site": site_text(site_of(crm_setting("PUBLIC_BASE_URL"))),
            "production": site_text(site_of(crm_setting("PRODUCTION_URL"))),
            "since": timezone.now().isoformat()}})
    return why


def withdraw_override():
    """Forget the override: the guard trips again here (tests, or an operator undoing it)."""
    SharedState.objects.filter(name=OVERRIDE).delete()
