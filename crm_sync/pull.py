"""The safety net under the CRM's webhooks: the periodic pull.

AC never retries a webhook (docs/activecampaign.md §8): one that misses us is gone. So every
`PULL_INTERVAL` seconds beat (tasks.pull_consent), or an operator
(`manage.py crm_consent_pull`), asks the CRM which contacts on our list
changed status since the last pull, and hands each change that is news to
the inbox (`inbox.receive(source="pull")`), where the same rules as for a
webhook apply: the status is read back from the CRM before anything changes.
An unsubscribe whose webhook was lost therefore arrives within one interval.

- **Where it starts.** The last pull's high-water mark (the time it started
  asking) is kept in the database under `pull:<account URL>`, so it survives
  restarts, and is moved on only once every change found is in the inbox: a
  pull that fails half-way is simply done again. Each pull asks from the mark
  minus `OVERLAP`, for clocks that disagree and for the CRM's whole-second
  times; the inbox's deduplication makes the overlap harmless. The first pull
  of an account starts one interval back: history is not imported.
- **What is news.** The CRM's query finds every contact on the list *updated*
  in the window, and crm_sync's own syncs update subscribed contacts all the
  time. A change to the status crm_sync already holds for that contact
  (`ContactState.list_status`, found by contact id, or by the email sent for
  contacts imported in bulk without an id) is not news and is left out.
- **Subscribes.** The query does not say who subscribed someone, so a
  subscribe found by the pull has no `initiated_from` and is only recorded:
  it never opts anyone in (only the contact can give consent).
- **The rate limit: a share, not leftovers.** The pull's requests go through
  `limiter.ShareLimiter`: at most `PULL_RATE_SHARE` × RATE_LIMIT_PER_SECOND
  on a rate of its own, each request also taking its turn on the account-wide
  rate. The live syncs keep at least the rest of the account's rate whatever
  the pull does. Taking only slots nobody has reserved (pure leftovers) was
  rejected: under a long resync or a backlog at full rate the safety net would
  never run, exactly when lost webhooks matter. A slot further away than
  `PULL_MAX_WAIT` stops the pull (RateLimitWait); the next one carries on.
  It also goes through the shared circuit breaker: while AC is down or
  refuses the key, the pull waits like every other request.
"""
import datetime
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from . import inbox
from .attempts import pause_state
from .breaker import CircuitBreaker, CircuitOpen
from .conf import ac_account, crm_setting
from .connection import make_backend
from .crm import SUBSCRIBED, UNSUBSCRIBED
from .errors import CrmError
from .limiter import RateLimitWait, Share
from .models import ContactState, InboxEvent
from .shared_state import DatabaseSharedState

# Asked again at every pull: clock skew between us and the CRM, whole-second times.
OVERLAP = datetime.timedelta(minutes=2)
EVENT_TYPES = {UNSUBSCRIBED: "unsubscribe", SUBSCRIBED: "subscribe"}


class SendingPaused(Exception):
    """Sending is paused (an operator, the setting, the staging guard): the pull asks the CRM nothing."""


# What stops a pull half-way; the mark stays, so the next pull asks again from the same point.
STOPPED = (CrmError, CircuitOpen, RateLimitWait, SendingPaused)


@dataclass
class Pulled:
    """What one pull found: the window it asked about, the changes by event
    type, how many were not news (the status crm_sync already holds) or
    already in the inbox, and the emails of those handed to the inbox."""

    since: datetime.datetime
    until: datetime.datetime
    found: Counter = field(default_factory=Counter)
    not_news: int = 0
    received: Counter = field(default_factory=Counter)
    duplicates: int = 0
    emails: list = field(default_factory=list)


def state_name(account_url):
    """Where the pull's high-water mark for an account is kept."""
    return f"pull:{account_url}"


def pull(now=None):
    """Ask the CRM for the list changes since the last pull and hand the news
    to the inbox; returns a Pulled. `now`: when the pull starts asking (the
    next mark). Raises STOPPED's errors, the mark then left where it was."""
    state = pause_state()
    if state.get("on"):
        raise SendingPaused(f"sending is paused: {state.get('reason') or 'no reason given'}")
    now = now or timezone.now()
    account_url = ac_account()[0]
    since = last_mark(account_url, now) - OVERLAP
    share = Share("pull", crm_setting("PULL_RATE_SHARE"), patience=crm_setting("PULL_MAX_WAIT"))
    crm = make_backend(breaker=CircuitBreaker(account_url), share=share)
    try:
        changes = list(crm.changed_list_members(since))
    finally:
        crm.close()
    pulled = Pulled(since=since, until=now)
    held = statuses_held(account_url, changes)
    for change in changes:
        event_type = EVENT_TYPES[change["status"]]
        pulled.found[event_type] += 1
        if held.get(change["contact_id"], held.get(change["email"].lower())) == change["status"]:
            pulled.not_news += 1
        else:
            hand_to_inbox(change, event_type, pulled)
    save_mark(account_url, now)
    return pulled


def last_mark(account_url, now):
    """When the last pull of the account started asking, or one interval
    before `now` for the first pull."""
    state = DatabaseSharedState().get_state(state_name(account_url)) or {}
    if state.get("until"):
        return datetime.datetime.fromisoformat(state["until"])
    return now - datetime.timedelta(seconds=crm_setting("PULL_INTERVAL"))


def save_mark(account_url, until):
    """Move the mark on to `until`, never back (two pulls at once)."""
    # Kept in the database even when Redis holds the shared state: a Redis
    # restarted empty would otherwise make the next pull start one interval back.
    store = DatabaseSharedState()
    name = state_name(account_url)
    current = (store.get_state(name) or {}).get("until")
    if current and datetime.datetime.fromisoformat(current) >= until:
        return
    store.set_state(name, {"until": until.isoformat()})


def statuses_held(account_url, changes):
    """{contact id or lower-cased email: list status} as crm_sync last set it
    for the contacts among `changes`; emails only for contacts it holds no
    id for (imported in bulk)."""
    ids = {change["contact_id"] for change in changes}
    emails = {change["email"] for change in changes if change["email"]}
    emails |= {email.lower() for email in emails}
    rows = ContactState.objects.filter(account_url=account_url, list_status__isnull=False).filter(
        Q(ac_contact_id__in=ids) | Q(ac_contact_id="", sent__email__in=sorted(emails)))
    held = {}
    for contact_id, sent, status in rows.values_list("ac_contact_id", "sent", "list_status"):
        if contact_id:
            held[contact_id] = status
        elif isinstance(sent, dict) and sent.get("email"):
            held[str(sent["email"]).lower()] = status
    return held


def hand_to_inbox(change, event_type, pulled):
    """One change to the inbox, which drops it if it has it already."""
    event = inbox.receive(
        source=InboxEvent.Source.PULL, event_type=event_type, contact_id=change["contact_id"],
        list_id=change["list_id"], occurred_at=change["changed_at"],
        initiated_from="",  # the query does not say who changed it
        email=change["email"],
        payload={**change, "changed_at": change["changed_at"].isoformat()},
    )
    if event is None:
        pulled.duplicates += 1
    else:
        pulled.received[event_type] += 1
        pulled.emails.append(change["email"])
