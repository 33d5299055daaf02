"""The webhook crm_sync asks the CRM for (`manage.py crm_webhooks
register|status|remove`): the events the inbox acts on, from every source
but the API, on our list, posted to the receiver's URL (webhooks.webhook_url).

- **No echoes.** The `api` source is never registered: crm_sync's own writes
  go through the API, and hearing them back would turn our own unsubscribe
  into a second opt-out (docs/activecampaign.md §8, §11.2; the receiver drops
  the echoes AC sends through `admin` regardless).
- **One webhook.** Ours is the one posting to the receiver's URL, or named
  `NAME` and posting to the same receiver with another token (the URL's last
  segment). Registering finds them first: one already as wanted is kept,
  any other is replaced, so registering twice leaves one webhook, and
  registering after a token rotation moves it to the new first token (the
  new webhook is added before the old one goes, so no event falls between).
  Webhooks of other receivers (another deployment sharing the account) are
  left alone.
- **The token is a secret.** The URL holds it, so it is shown only masked
  (`masked`), and the requests are recorded nowhere.
"""
from dataclasses import dataclass, field

from .conf import webhook_tokens
from .connection import make_backend
from .webhooks import webhook_url

NAME = "crm_sync"
EVENTS = ("unsubscribe", "subscribe", "bounce")
SOURCES = ("public", "admin", "system")   # never "api"
SHOWN_OF_TOKEN = 4


@dataclass
class Registration:
    """What `register` or `remove` did, and the webhooks of ours it found."""

    found: list = field(default_factory=list)
    added: str = ""                          # the id of the webhook added
    kept: str = ""                           # the id of one already as wanted
    removed: list = field(default_factory=list)


def register():
    """Make the CRM hold exactly one webhook of ours, as wanted. Returns a Registration."""
    crm = make_backend(patient=True)
    try:
        wanted = wanted_webhook(crm)
        done = Registration(found=ours(crm.webhooks(), wanted["url"]))
        keep = next((webhook for webhook in done.found if as_wanted(webhook, wanted)), None)
        if keep is None:
            done.added = crm.add_webhook(wanted["name"], wanted["url"], wanted["events"], wanted["sources"],
                                         wanted["list_id"])
        else:
            done.kept = keep["id"]
        for webhook in done.found:
            if webhook is not keep:
                crm.remove_webhook(webhook["id"])
                done.removed.append(webhook["id"])
        return done
    finally:
        crm.close()


def registered():
    """(our webhooks as the CRM holds them, the webhook wanted). Each of
    ours gets `problems`: how it differs from the one wanted."""
    crm = make_backend(patient=True)
    try:
        wanted = wanted_webhook(crm)
        found = ours(crm.webhooks(), wanted["url"])
    finally:
        crm.close()
    for webhook in found:
        webhook["problems"] = differences(webhook, wanted)
    return found, wanted


def remove():
    """Delete every webhook of ours. Returns a Registration."""
    crm = make_backend(patient=True)
    try:
        done = Registration(found=ours(crm.webhooks(), webhook_url()))
        for webhook in done.found:
            crm.remove_webhook(webhook["id"])
            done.removed.append(webhook["id"])
        return done
    finally:
        crm.close()


# -- which webhooks are ours, and how they should be --------------------------------------
def wanted_webhook(crm):
    return {"name": NAME, "url": webhook_url(), "events": list(EVENTS), "sources": list(SOURCES),
            "list_id": str(crm.list_id())}


def receiver(url):
    """The URL without its last segment (the token)."""
    return url.rstrip("/").rsplit("/", 1)[0]


def ours(webhooks, url):
    return [webhook for webhook in webhooks
            if webhook["url"] == url or (webhook["name"] == NAME and receiver(webhook["url"]) == receiver(url))]


def differences(webhook, wanted):
    """How `webhook` differs from `wanted`, in words (token-free)."""
    problems = []
    if webhook["url"] != wanted["url"]:
        problems.append("posts with a token that is not the first of WEBHOOK_TOKENS (register again)")
    if "api" in webhook["sources"]:
        problems.append("listens to the api source: crm_sync would hear its own writes")
    missing = [event for event in wanted["events"] if event not in webhook["events"]]
    if missing:
        problems.append(f"misses the events {', '.join(missing)}")
    missing = [source for source in wanted["sources"] if source not in webhook["sources"]]
    if missing:
        problems.append(f"misses the sources {', '.join(missing)}")
    if webhook["list_id"] != wanted["list_id"]:
        problems.append(f"listens to list {webhook['list_id']}, not ours ({wanted['list_id']})")
    if webhook["name"] != wanted["name"]:
        problems.append(f"is named {webhook['name']!r}, not {wanted['name']!r}")
    return problems


def as_wanted(webhook, wanted):
    return (webhook["url"] == wanted["url"] and webhook["name"] == wanted["name"]
            and sorted(webhook["events"]) == sorted(wanted["events"])
            and sorted(webhook["sources"]) == sorted(wanted["sources"]) and webhook["list_id"] == wanted["list_id"])


# -- showing a URL that holds a token ------------------------------------------------------
def masked(text):
    """`text` with every webhook token in it cut to its first characters: the
    configured ones anywhere, and a URL's last segment (the token of a URL
    crm_sync built, perhaps with a token no longer configured)."""
    for token in sorted(webhook_tokens(), key=len, reverse=True):
        text = text.replace(token, token[:SHOWN_OF_TOKEN] + "…")
    if text.startswith(("http://", "https://")):
        head, _, last = text.rstrip("/").rpartition("/")
        if not last.endswith("…"):
            text = f"{head}/{last[:SHOWN_OF_TOKEN]}…/"
    return text
