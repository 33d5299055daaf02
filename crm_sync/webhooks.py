"""The receiver of the CRM's webhooks: `POST <where crm_sync.urls is
included>/webhooks/<crm>/<token>/` (crm_sync/urls.py, docs/webhooks.md).

AC signs nothing (docs/activecampaign.md §8), so the token in the path is
the lock. It is checked while the URL is resolved (`WebhookTokenConverter`):
a wrong token matches no URL at all, so it gets exactly the 404 of any
unknown address, and never a 410, which would make AC switch the webhook off
for good. The token itself never reaches the view (it is given the token's
number), and `HideWebhookTokens` keeps it out of Django's request logs.

The view only parses AC's form body and writes one inbox row; the work is
done by a task after commit (crm_sync/inbox.py), so AC gets its answer well
inside its 5 seconds (docs/activecampaign.md §11.2).
"""
import hmac
import logging
import re
from datetime import timezone as dt_timezone

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from . import inbox
from .conf import WEBHOOK_PATH, crm_setting, webhook_tokens
from .metrics import record_webhook
from .models import InboxEvent

logger = logging.getLogger(__name__)
# Form keys as AC sends them: `contact[email]`, `contact[fields][12]`.
BRACKETED = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])+)$")
PART = re.compile(r"\[([^\[\]]*)\]")
# The token's segment of a receiver path, wherever it appears in a log line.
TOKEN_IN_PATH = re.compile(re.escape(WEBHOOK_PATH) + r"[^/\s?#\"']*")
HIDDEN = WEBHOOK_PATH + "<token>"


# -- the token ---------------------------------------------------------------------------
def token_number(candidate):
    """Which configured token `candidate` is (1 or 2), or None. Every token
    is compared, each in constant time, so the time taken says nothing
    about how close a guess came (nor which token matched)."""
    matches = [hmac.compare_digest(candidate.encode(), token.encode()) for token in webhook_tokens()]
    return matches.index(True) + 1 if any(matches) else None


class WebhookTokenConverter:
    """A path converter that matches only a configured token, and hands the
    view the token's number instead of the token. Anything else is no match:
    Django's own 404 for an unknown URL."""

    regex = r"[A-Za-z0-9_\-]{1,200}"

    def to_python(self, value):
        number = token_number(value)
        if number is None:
            raise ValueError("not a webhook token")  # no match: an unknown URL
        return number

    def to_url(self, value):
        return str(value)


def webhook_url(token=None):
    """The URL the CRM is to post to, with `token` (default: the first
    configured): `WEBHOOK_URL` plus the token, or else `PUBLIC_BASE_URL` plus
    where the host project includes crm_sync.urls. It holds a secret: show it
    to no one (`crm_webhooks register` sends it to the CRM only)."""
    token = token or next(iter(webhook_tokens()), "")
    if not token:
        raise ImproperlyConfigured("CRM_SYNC['WEBHOOK_TOKENS'] is empty: no webhook URL without a token "
                                   "(docs/webhooks.md)")
    base = crm_setting("WEBHOOK_URL")
    if base:
        return f"{base.rstrip('/')}/{token}/"
    try:
        path = reverse("crm_sync:webhook", kwargs={"token": token})
    except NoReverseMatch as error:
        raise ImproperlyConfigured("crm_sync.urls is not included in the project's URLs, and "
                                   "CRM_SYNC['WEBHOOK_URL'] is not set (docs/webhooks.md)") from error
    return crm_setting("PUBLIC_BASE_URL").rstrip("/") + path


# -- the view ---------------------------------------------------------------------------
@csrf_exempt  # the CRM posts from its servers: no session, no CSRF token; the path's token is the lock
@sensitive_post_parameters()  # an error report would otherwise show the attendee's details
def receive_webhook(request, token):
    """Store one delivery in the inbox and answer at once: 200 for an event
    (new or a duplicate), 400 for a body that is no event (no `type`: not
    AC), 405 for anything but POST. Never 410, which would switch the
    webhook off. `token` is the matching token's number, not the token."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    payload = parse_form(request.POST)
    event_type = str(payload.get("type") or "").strip()
    if not event_type:
        logger.warning("crm_sync: a webhook delivery with no event type was refused (400)")
        record_webhook("", "refused")
        return HttpResponseBadRequest("Not an event: no type.", content_type="text/plain")
    contact = payload.get("contact") if isinstance(payload.get("contact"), dict) else {}
    event = inbox.receive(
        source=InboxEvent.Source.WEBHOOK, event_type=event_type, contact_id=str(contact.get("id") or ""),
        list_id=str(payload.get("list") or ""), occurred_at=parse_when(payload.get("date_time")),
        initiated_from=str(payload.get("initiated_from") or ""), email=str(contact.get("email") or ""),
        payload=payload,
    )
    if token != 1:
        # Still accepted during a rotation; say so, so that the old token is not forgotten.
        logger.info("crm_sync: a webhook came with token 2 (the old one): finish the rotation (docs/webhooks.md)")
    record_webhook(event_type, "stored" if event is not None else "duplicate")
    if event is None:
        logger.info("crm_sync: webhook %s delivered again: already in the inbox", event_type)
    else:
        logger.info("crm_sync: webhook %s stored as inbox row %s", event_type, event.pk)
    return HttpResponse("OK", content_type="text/plain")


def parse_form(data):
    """A form body with bracketed keys as nested dicts: `contact[email]=a`
    gives {"contact": {"email": "a"}}. A key given more than once keeps a
    list of its values; `key[]` is a list too. A plain key that is also
    bracketed keeps its own value under ""."""
    parsed = {}
    for key, values in data.lists():
        value = values[0] if len(values) == 1 and not key.endswith("[]") else list(values)
        match = BRACKETED.match(key)
        parts = [match.group(1), *PART.findall(match.group(2))] if match else [key]
        if parts[-1] == "":
            parts = parts[:-1]
        place_value(parsed, parts, value)
    return parsed


def place_value(tree, parts, value):
    for part in parts[:-1]:
        branch = tree.get(part)
        if not isinstance(branch, dict):
            branch = tree[part] = {} if branch is None else {"": branch}
        tree = branch
    last = parts[-1]
    if isinstance(tree.get(last), dict):
        tree[last][""] = value
    else:
        tree[last] = value


def parse_when(text):
    """AC's `date_time` (ISO 8601, with an offset) as an aware datetime;
    one without an offset is taken as UTC; None if it is not a time."""
    try:
        when = parse_datetime(str(text or "").strip())
    except ValueError:
        return None
    if when is None:
        return None
    return when if timezone.is_aware(when) else when.replace(tzinfo=dt_timezone.utc)


# -- keeping the token out of the logs ----------------------------------------------------
class HideWebhookTokens(logging.Filter):
    """Replaces the token in any receiver path of a log record with
    `<token>`. Django logs the path of every 4xx and 5xx answer
    (`django.request`: the 404 of a wrong token, the 400 of a bad body) and
    `runserver` logs every request (`django.server`); an error e-mail would
    also show the request, which is dropped from such records."""

    def filter(self, record):
        if isinstance(record.msg, str) and WEBHOOK_PATH in record.msg:
            record.msg = TOKEN_IN_PATH.sub(HIDDEN, record.msg)
        if isinstance(record.args, tuple):
            hidden = tuple(hide_token(arg) for arg in record.args)
            if hidden != record.args:
                record.args = hidden
                record.request = None  # Django's error e-mails print the request's path and environ
        elif isinstance(record.args, dict):
            record.args = {key: hide_token(value) for key, value in record.args.items()}
        return True


def hide_token(value):
    return TOKEN_IN_PATH.sub(HIDDEN, value) if isinstance(value, str) and WEBHOOK_PATH in value else value


def hide_tokens_from_logs():
    """Put `HideWebhookTokens` on the loggers that print request paths
    (crm_sync's AppConfig.ready). Once per logger."""
    for name in ("django.request", "django.server"):
        target = logging.getLogger(name)
        if not any(isinstance(existing, HideWebhookTokens) for existing in target.filters):
            target.addFilter(HideWebhookTokens())
