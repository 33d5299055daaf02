"""Alerts: a few rules over crm_sync's own tables, evaluated by beat, sent to
the site's admins by email and to a chat channel's incoming webhook.

Each rule looks at the state now and returns a `Finding` (its condition
holds, and why) or None. `evaluate()` turns findings into `Alert` rows, one
open row per rule: `pending` while the condition has held for less than the
rule's hold (a blip sends nothing), `firing` once it has (the notice is
sent), `resolved` when it ends (the recovery notice is sent). So each alert
is sent once when it starts and once when it ends, however often beat
evaluates. Each channel's delivery of each notice is recorded on the row; a
channel that fails is tried again at the next evaluation and never holds up
the other. docs/operations.md#alerts; what to do for each: docs/runbook.md.
"""
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import get_connection, mail_admins
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from .attempts import pause_state
from .breaker import CONFIGURATION, CircuitBreaker
from .conf import ac_account, crm_setting
from .errors import Category
from .events import log_event
from .models import Alert, ImportBatch, SyncLog
from .shared_state import backend

logger = logging.getLogger(__name__)

Rule, State = Alert.Rule, Alert.State
DONE_WELL = (SyncLog.Status.SUCCESS, SyncLog.Status.SKIPPED)
# Failures crm_sync retries by itself: one of these at MAX_ATTEMPTS means it gave up.
RETRIED_CATEGORIES = (Category.NETWORK, Category.RATE_LIMITED, Category.SERVER_ERROR, Category.BAD_RESPONSE,
                      Category.INTERNAL, Category.WORKER_LOST, Category.IMPORT_FAILED)
CHANNELS = ("email", "webhook")
NOTICES = ("fired", "resolved")
# One evaluation at a time across every beat and worker: a second tick that
# overlaps the first finds the lock taken and does nothing.
LOCK_NAME = "alerts:evaluate"
LOCK_TTL = 300  # far longer than an evaluation: at most one timeout per channel
# A notice no channel could deliver for this long is given up on (the row and the logs keep it).
GIVE_UP_AFTER = timedelta(hours=24)
# Where each rule's entry is in docs/runbook.md.
RUNBOOK = "docs/runbook.md, “Alerts”"


@dataclass
class Finding:
    """A rule's condition holds: what to tell people, and the figures behind it."""

    message: str
    detail: dict = field(default_factory=dict)


# -- the rules ------------------------------------------------------------------------
def first_pass_rate(now):
    """Under ALERT_FIRST_PASS_RATE of the first attempts finished in the last
    hour ended success or skipped, with at least ALERT_MIN_ATTEMPTS of them.
    A resync's rows are left out: an operator started it, and a batch of it
    that fails has its own rule (bulk_batch_failed)."""
    counts = (SyncLog.objects.filter(attempt=1, finished_at__gte=now - timedelta(hours=1))
              .exclude(trigger=SyncLog.Trigger.RESYNC).finished().aggregate(
        finished=Count("pk"), ok=Count("pk", filter=Q(status__in=DONE_WELL)),
    ))
    finished, ok = counts["finished"], counts["ok"]
    target = crm_setting("ALERT_FIRST_PASS_RATE")
    if finished < crm_setting("ALERT_MIN_ATTEMPTS") or ok >= target * finished:
        return None
    rate = ok / finished
    return Finding(
        f"Only {rate:.1%} of first attempts succeeded in the last hour ({ok} of {finished}; "
        f"alert under {target:.0%}). The admin's sync attempts, filtered on failed, say why.",
        {"finished": finished, "succeeded": ok, "rate": round(rate, 4), "target": target},
    )


def queued_too_long(now):
    """The oldest queued SyncLog row is older than ALERT_QUEUED_AGE."""
    queued = SyncLog.objects.filter(status=SyncLog.Status.QUEUED)
    oldest = queued.order_by("created_at", "pk").values("pk", "created_at").first()
    if oldest is None:
        return None
    age = (now - oldest["created_at"]).total_seconds()
    limit = crm_setting("ALERT_QUEUED_AGE")
    if age <= limit:
        return None
    count = queued.count()
    paused = pause_state()
    why = f" Sending is paused: {paused.get('reason') or 'no reason given'}." if paused.get("on") else ""
    return Finding(
        f"The oldest queued sync (SyncLog row {oldest['pk']}) has waited {describe_duration(age)}; "
        f"{count} queued in all (alert after {describe_duration(limit)}).{why}",
        {"oldest_row": oldest["pk"], "oldest_seconds": round(age), "queued": count,
         "paused": bool(paused.get("on"))},
    )


def breaker_open(now):
    """The circuit breaker open longer than ALERT_BREAKER_OPEN_SECONDS, or
    at all when AC refused the key (that never heals by itself)."""
    state = CircuitBreaker(ac_account()[0]).state()
    if state["state"] != "open":
        return None
    open_seconds = max(0.0, now.timestamp() - state["since"])
    if state["reason"] != CONFIGURATION and open_seconds < crm_setting("ALERT_BREAKER_OPEN_SECONDS"):
        return None
    what = "AC refused the API key" if state["reason"] == CONFIGURATION else "AC is not answering"
    return Finding(
        f"{what}: the circuit breaker has been open for {describe_duration(open_seconds)} and nothing is sent "
        f"(syncs wait without spending attempts). AC's last answer: {state.get('message', '')}",
        {"reason": state["reason"], "open_seconds": round(open_seconds), "message": state.get("message", "")},
    )


def retries_exhausted(now):
    """In the last ALERT_WINDOW_SECONDS, a sync gave up: failed at
    MAX_ATTEMPTS with an error crm_sync retries, or stopped as poison; and
    its person has not been synced successfully since (a retry from the
    admin that worked ends the alert)."""
    since = now - timedelta(seconds=crm_setting("ALERT_WINDOW_SECONDS"))
    synced_since = SyncLog.objects.filter(user=OuterRef("user"), status__in=DONE_WELL,
                                          created_at__gt=OuterRef("created_at"))
    gave_up = (
        SyncLog.objects.filter(status=SyncLog.Status.FAILED, finished_at__gte=since)
        .filter(Q(attempt__gte=crm_setting("MAX_ATTEMPTS"), error_category__in=RETRIED_CATEGORIES)
                | Q(error_category=Category.POISON))
        .exclude(Exists(synced_since))
    )
    rows = list(gave_up.order_by("-finished_at", "-pk").values_list("pk", "error_category")[:1000])
    if not rows:
        return None
    categories = {}
    for _, category in rows:
        categories[category] = categories.get(category, 0) + 1
    by_category = ", ".join(f"{name} {count}" for name, count in sorted(categories.items()))
    ids = ", ".join(str(pk) for pk, _ in rows[:10]) + (", …" if len(rows) > 10 else "")
    return Finding(
        f"{len(rows)} sync{'s' if len(rows) != 1 else ''} gave up for good ({by_category}): SyncLog rows {ids}. "
        "Nobody will retry them unless someone does (Retry sync in the admin).",
        {"rows": [pk for pk, _ in rows[:50]], "count": len(rows), "categories": categories},
    )


def bulk_batch_failed(now):
    """A bulk import batch (a resync's or a burst's) failed in the last ALERT_WINDOW_SECONDS."""
    since = now - timedelta(seconds=crm_setting("ALERT_WINDOW_SECONDS"))
    failed = list(
        ImportBatch.objects.filter(status=ImportBatch.Status.FAILED)
        .annotate(ended=Coalesce("completed_at", "queued_at")).filter(ended__gte=since)
        .order_by("-ended", "-pk")[:20]
    )
    if not failed:
        return None
    people = sum(batch.size for batch in failed)
    latest = failed[0]
    return Finding(
        f"{len(failed)} bulk import batch{'es' if len(failed) != 1 else ''} failed ({people} people); the latest, "
        f"AC batch {latest.batch_id} ({latest.get_lane_display().lower()}): {latest.error[:300] or 'no reason given'}",
        {"batches": [batch.batch_id for batch in failed], "people": people},
    )


@dataclass(frozen=True)
class AlertRule:
    name: str
    check: object
    flaps: bool  # held back by ALERT_HOLD_SECONDS; the others go out at once unless told


RULES = (
    AlertRule(Rule.FIRST_PASS_RATE, first_pass_rate, flaps=True),
    AlertRule(Rule.QUEUED_TOO_LONG, queued_too_long, flaps=True),
    # Its own duration is the hold: ALERT_BREAKER_OPEN_SECONDS on the breaker's clock.
    AlertRule(Rule.BREAKER_OPEN, breaker_open, flaps=False),
    AlertRule(Rule.RETRIES_EXHAUSTED, retries_exhausted, flaps=False),
    AlertRule(Rule.BULK_BATCH_FAILED, bulk_batch_failed, flaps=False),
)


def hold_seconds(rule):
    """How long `rule`'s condition must hold before its alert is sent."""
    by_rule = crm_setting("ALERT_HOLD_SECONDS_BY_RULE") or {}
    if rule.name in by_rule:
        return float(by_rule[rule.name])
    return float(crm_setting("ALERT_HOLD_SECONDS")) if rule.flaps else 0.0


# -- evaluating -------------------------------------------------------------------------
def evaluate(now=None):
    """Evaluate every rule, open, fire or resolve their alerts, and deliver
    the notices due. Returns the open alerts, or None when another evaluation
    holds the lock (it does the same work)."""
    token = backend().acquire_lock(LOCK_NAME, LOCK_TTL)
    if token is None:
        return None
    try:
        now = now or timezone.now()
        for rule in RULES:
            try:
                finding = rule.check(now)
            except Exception:  # one broken rule must not silence the others
                logger.exception("crm_sync: alert rule %s could not be evaluated", rule.name)
                continue
            advance(rule, finding, now)
        deliver_due(now)
        return list(Alert.objects.exclude(state=State.RESOLVED))
    finally:
        backend().release_lock(LOCK_NAME, token)


def advance(rule, finding, now):
    """Move `rule`'s open alert one step on, given what the rule found now."""
    try:
        with transaction.atomic():
            alert = Alert.objects.select_for_update().filter(rule=rule.name).exclude(state=State.RESOLVED).first()
            if finding is not None:
                hold_or_fire(alert or Alert(rule=rule.name, first_seen_at=now), rule, finding, now)
            elif alert is not None:
                resolve_or_drop(alert, now)
    except IntegrityError:
        # Another evaluation opened this rule's alert at the same moment (the
        # lock had expired): the database's one-open-alert-per-rule keeps it single.
        logger.warning("crm_sync: alert %s was opened by another evaluation at the same time", rule.name)


def hold_or_fire(alert, rule, finding, now):
    """The condition holds: note what it says now, and fire once it has held for `rule`'s hold."""
    alert.message, alert.detail = finding.message, finding.detail
    if alert.state == State.PENDING and (now - alert.first_seen_at).total_seconds() >= hold_seconds(rule):
        alert.state, alert.fired_at = State.FIRING, now
        queue_notice(alert, "fired")
        log_event("alert_fired", rule=rule.name, message=finding.message[:500])
    alert.save()


def resolve_or_drop(alert, now):
    """The condition is over: resolve the alert, or forget it if it never fired."""
    if alert.state == State.PENDING:
        alert.delete()  # over before its hold: nothing was sent, nothing to resolve
        return
    alert.state, alert.resolved_at = State.RESOLVED, now
    queue_notice(alert, "resolved")
    alert.save()
    log_event("alert_resolved", rule=alert.rule, lasted_seconds=round((now - alert.fired_at).total_seconds()))


def queue_notice(alert, notice):
    """Mark `notice` ("fired", "resolved") due on every channel; deliver_due sends it."""
    alert.deliveries.update({f"{notice}:{channel}": {"state": "pending", "tries": 0} for channel in CHANNELS})


# -- delivering ---------------------------------------------------------------------------
class Skipped(Exception):
    """The channel is not set up; nothing to try again."""


def deliver_due(now):
    """Send every notice not yet delivered on each channel, oldest first. A
    channel that fails is not tried again in this evaluation (one timeout at
    most per channel), and is tried again at the next one."""
    failed_channels = set()
    recent = Alert.objects.filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=now - GIVE_UP_AFTER))
    for alert in recent.exclude(state=State.PENDING).order_by("fired_at", "pk"):
        for notice in NOTICES:
            noticed_at = alert.fired_at if notice == "fired" else alert.resolved_at
            for channel in CHANNELS:
                record = alert.deliveries.get(f"{notice}:{channel}")
                if record is None or record["state"] not in ("pending", "failed") or channel in failed_channels:
                    continue
                if now - noticed_at > GIVE_UP_AFTER:
                    record["state"] = "given up"
                elif not deliver(alert, notice, channel, record, now):
                    failed_channels.add(channel)
                alert.save(update_fields=["deliveries"])


def deliver(alert, notice, channel, record, now, content=None):
    """Send one notice on one channel, recording the outcome in `record`.
    True unless it failed. `content` (subject, text) replaces the composed one."""
    subject, text = content or compose(alert, notice)
    record["tries"] = record.get("tries", 0) + 1
    record["at"] = now.isoformat()
    try:
        if channel == "email":
            send_email(subject, text)
        else:
            post_webhook(chat_message(alert, notice, subject, text))
    except Skipped as why:
        record["state"], record["error"] = "skipped", str(why)
        return True
    except Exception as error:  # any channel's failure is recorded and retried, never raised into the others
        url = crm_setting("ALERT_WEBHOOK_URL")
        record["state"], record["error"] = "failed", describe_error(error, url)
        log_event("alert_delivery_failed", rule=alert.rule, notice=notice, channel=channel, tries=record["tries"],
                  error=record["error"], webhook=masked_url(url) if channel == "webhook" else None)
        return False
    record["state"] = "sent"
    record.pop("error", None)
    return True


def send_email(subject, text):
    """To settings.ADMINS, through the site's mail backend with a short timeout."""
    if not settings.ADMINS:
        raise Skipped("no ADMINS to email; set DJANGO_ADMINS")
    connection = get_connection(fail_silently=False, timeout=crm_setting("ALERT_CHANNEL_TIMEOUT"))
    mail_admins(subject, text, connection=connection)


def post_webhook(payload):
    """POST the chat message to ALERT_WEBHOOK_URL; anything but a 2xx is a failure."""
    url = crm_setting("ALERT_WEBHOOK_URL")
    if not url:
        raise Skipped("no webhook URL; set CRM_SYNC_ALERT_WEBHOOK_URL")
    timeout = crm_setting("ALERT_CHANNEL_TIMEOUT")
    response = requests.post(url, json=payload, timeout=(timeout, timeout), allow_redirects=False)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"the webhook answered {response.status_code}: {response.text[:200]}")


# -- what the notices say -----------------------------------------------------------------
def local_time(moment):
    """A time in the site's zone, named: "2026-11-30 19:34:05 GMT"."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"


def compose(alert, notice):
    """(subject, plain text) of one notice."""
    label = alert.get_rule_display()
    if notice == "fired":
        subject = f"{subject_prefix()}ALERT: {label}"
        lines = [alert.message, "", f"Since {local_time(alert.first_seen_at)}.",
                 f"What to do: {RUNBOOK}, “{label}”."]
    else:
        lasted = describe_duration((alert.resolved_at - alert.fired_at).total_seconds())
        subject = f"{subject_prefix()}Resolved: {label}"
        lines = [f"{label}: over after {lasted} "
                 f"(at {local_time(alert.resolved_at)}).",
                 "", f"Last seen: {alert.message}"]
    url = dashboard_url()
    if url:
        lines.append(f"Dashboard: {url}")
    return subject, "\n".join(lines)


def chat_message(alert, notice, subject, text):
    """Slack's incoming-webhook shape: `text` for notifications and other
    chat tools, `blocks` for Slack's layout."""
    body = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {
        "text": f"{subject}\n{text}"[:3000],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": subject[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}},
        ],
    }


def subject_prefix():
    """"[staging] " when the deployment has a name (CRM_SYNC["ENVIRONMENT"]), so
    that staging's alerts are not taken for production's; else ""."""
    environment = str(crm_setting("ENVIRONMENT") or "")
    return f"[{environment}] " if environment else ""


def dashboard_url():
    base = crm_setting("PUBLIC_BASE_URL").rstrip("/")
    try:
        return base + reverse("admin:crm_sync_synclog_dashboard") if base else ""
    except NoReverseMatch:
        return ""


def describe_duration(seconds):
    """A duration as people read it: "45 s", "12 min", "2 h 5 min"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def masked_url(url):
    """The webhook URL with its secret part hidden: scheme and host only."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


def describe_error(error, url):
    """An exception as text safe to log and store: the webhook's path and
    query (its secret, in Slack's and most chat tools' URLs) cut out."""
    text = f"{type(error).__name__}: {error}"
    if url:
        parts = urlsplit(url)
        for secret in (url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.path, parts.query):
            if secret and secret != "/":
                text = text.replace(secret, "/…")
    return text[:500]


# -- for the dashboard, the admin and the command -------------------------------------------
def overview(now=None, recent_days=7):
    """The open alerts and those resolved in the last `recent_days`, newest
    first, each with `delivered` (describe_deliveries)."""
    now = now or timezone.now()
    open_alerts = list(Alert.objects.exclude(state=State.RESOLVED).order_by("-first_seen_at"))
    recent = list(Alert.objects.filter(state=State.RESOLVED, resolved_at__gte=now - timedelta(days=recent_days))
                  .order_by("-resolved_at")[:20])
    for alert in open_alerts + recent:
        alert.delivered = describe_deliveries(alert)
    return {"open": open_alerts, "recent": recent, "recent_days": recent_days}


def each_delivery(alert):
    """(notice, channel, record) of each of the alert's deliveries, the fired
    notice's first, channels in name order."""
    for key, record in sorted(alert.deliveries.items(), key=lambda item: (item[0].startswith("resolved"), item[0])):
        notice, channel = key.split(":", 1)
        yield notice, channel, record


def describe_deliveries(alert):
    """Each notice's outcome per channel, as staff read it: "fired by email: sent; fired by webhook: failed (…)"."""
    parts = []
    for notice, channel, record in each_delivery(alert):
        text = f"{notice} by {channel}: {record.get('state')}"
        if record.get("state") == "failed":
            text += f" ({record.get('tries', 0)} tries: {record.get('error', '')})"
        elif record.get("state") == "skipped":
            text += f" ({record.get('error', '')})"
        parts.append(text)
    return "; ".join(parts) or "nothing yet (held back)"


def summarise_deliveries(alert):
    """How the alert's notices went, in a few words for a list: "email sent ·
    webhook skipped", or per notice ("fired: …; resolved: …") where they differ."""
    states = {}
    for notice, channel, record in each_delivery(alert):
        states.setdefault(notice, {})[channel] = record.get("state")
    if not states:
        return "nothing yet (held back)"
    lines = {notice: " · ".join(f"{channel} {state}" for channel, state in by_channel.items())
             for notice, by_channel in states.items()}
    if len(set(lines.values())) == 1:
        return next(iter(lines.values()))
    return "; ".join(f"{notice}: {line}" for notice, line in lines.items())


def send_test():
    """Send a test notice on every channel now; returns {channel: outcome}.
    For checking the wiring by hand (`crm_sync_alerts --send-test`)."""
    now = timezone.now()
    alert = Alert(rule=Rule.BREAKER_OPEN, state=State.FIRING, first_seen_at=now, fired_at=now)
    content = (f"{subject_prefix()}Test: crm_sync alerts reach this channel",
               "A test of crm_sync's alert channels, sent by `manage.py crm_sync_alerts --send-test`: "
               "no action needed.")
    outcome = {}
    for channel in CHANNELS:
        record = {}
        deliver(alert, "test", channel, record, now, content)
        outcome[channel] = record["state"] + (f": {record['error']}" if record.get("error") else "")
    return outcome
