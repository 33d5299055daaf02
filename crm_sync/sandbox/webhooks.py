"""Registering webhooks: ``POST``/``GET /webhooks``, ``GET``/``DELETE /webhooks/{id}``
and ``GET /webhook/events`` (docs/activecampaign.md §8).

Shapes follow AC's documentation: ``{"webhook": {cdate, listid, name, url,
events, sources, links, id}}`` with ``listid`` and ``id`` as strings. What
AC leaves open is decided strictly (docs/sandbox.md lists each choice):

- ``name``, ``url``, ``events`` and ``sources`` are required, events must be
  AC's event names and sources among ``public``, ``admin``, ``api``,
  ``system``; anything else is a 422 naming the attribute;
- plain ``http`` is accepted only to a loopback host (a token in the URL must
  not cross a network in clear, as crm_sync's own rule for the API URL), and
  an ``https`` URL only on port 443, the one port AC delivers HTTPS to;
- registering the same URL twice makes two webhooks, each delivered to: a
  client must look before it registers.

``masked_url`` is how every view of the sandbox (deliveries, the page, its
log) shows a webhook's URL: the secret a receiver puts in it never appears.
"""

import ipaddress
import json
import urllib.parse

from . import shapes
from .replies import Reply, parse_json_object
from .validation import parse_id

# GET /webhook/events, plus the account and task events the listid note of
# AC's reference names (docs/activecampaign.md §8).
EVENTS = (
    "bounce", "click", "contact_tag_added", "contact_tag_removed", "deal_add", "deal_note_add",
    "deal_pipeline_add", "deal_stage_add", "deal_task_add", "deal_task_complete", "deal_tasktype_add",
    "deal_update", "forward", "list_add", "open", "reply", "sent", "share", "sms_reply", "sms_sent",
    "sms_unsub", "subscribe", "subscriber_note", "unsubscribe", "update",
)
EXTRA_EVENTS = ("account_add", "account_update", "account_contact_add", "account_contact_update",
                "contact_task_add")
SOURCES = ("public", "admin", "api", "system")
_REQUIRED = ("name", "url", "events", "sources")
_MAX_URL = 2048


def is_loopback(host):
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def masked_url(url):
    """``url`` with its secret parts hidden, for every view the sandbox gives.

    A receiver's token sits in the path (``…/webhooks/<token>/``), a query
    string or user info: the last path segment keeps its first 4 characters
    (none if it has 8 or fewer) followed by "…"; user info and any query or
    fragment become "…". The whole URL is never shown.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = ("…@" if "@" in parts.netloc else "") + host + (f":{parts.port}" if parts.port else "")
    segments = parts.path.split("/")
    last = max((i for i, segment in enumerate(segments) if segment), default=None)
    if last is not None:
        secret = segments[last]
        segments[last] = (secret[:4] if len(secret) > 8 else "") + "…"
    tail = ("?…" if parts.query else "") + ("#…" if parts.fragment else "")
    return f"{parts.scheme}://{netloc}{'/'.join(segments)}{tail}"


def url_problem(url):
    """Why the sandbox will not deliver to ``url``, or None."""
    if not isinstance(url, str) or not url.strip():
        return "The webhook url was not provided."
    if len(url) > _MAX_URL or any(ch.isspace() for ch in url):
        return "The webhook url is not a valid URL"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "The webhook url is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The webhook url must be an http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "Plain http is accepted only to a loopback host; use https"
    if parts.scheme == "https" and port not in (None, 443):
        return "Webhooks are delivered over https on port 443 only"
    return None


def _names_problem(key, value, allowed):
    """Why ``value`` is not a non-empty list of names from ``allowed``, or None."""
    if not isinstance(value, list) or not value:
        return f"The webhook {key} were not provided."
    unknown = [item for item in value if not isinstance(item, str) or item not in allowed]
    if unknown:
        return f"Unknown {key}: {', '.join(map(str, unknown))}"
    return None


def _error(title, key, code="field_invalid"):
    return shapes.attribute_error(title, f"/data/attributes/{key}", code=code)


def webhook_shape(row):
    """A webhook as AC answers it: ``listid`` and ``id`` strings, ``links`` an empty list."""
    return {
        "cdate": row["cdate"],
        "listid": str(row["listid"]),
        "name": row["name"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "sources": json.loads(row["sources"]),
        "links": [],
        "id": str(row["id"]),
    }


def webhook_view(row):
    """A webhook as the sandbox's own views show it: the URL masked, and whether a 410 switched it off."""
    return {"id": str(row["id"]), "name": row["name"], "url": masked_url(row["url"]),
            "events": json.loads(row["events"]), "sources": json.loads(row["sources"]),
            "listid": str(row["listid"]), "active": bool(row["active"])}


def _unique(names):
    return list(dict.fromkeys(names))


class WebhookEndpoints:
    """The webhook endpoints, over one ``Store``; ``Api`` routes to them."""

    def __init__(self, store, paged):
        self.store = store
        self.paged = paged  # (query) -> (limit, offset), the one paging rule of the API

    def create_webhook(self, query, body):
        item = parse_json_object(body).get("webhook")
        if not isinstance(item, dict):
            raise Reply(422, shapes.errors([_error("webhook is required", "webhook", "field_missing")]))
        missing = [key for key in _REQUIRED if item.get(key) in (None, "", [])]
        problems = [_error(f"The webhook {key} was not provided.", key, "field_missing") for key in missing]
        found = {
            "name": None if isinstance(item.get("name"), str) else "The webhook name must be a string",
            "url": url_problem(item.get("url")),
            "events": _names_problem("events", item.get("events"), EVENTS + EXTRA_EVENTS),
            "sources": _names_problem("sources", item.get("sources"), SOURCES),
        }
        problems += [_error(problem, key) for key, problem in found.items() if problem and key not in missing]
        listid = self._listid(item.get("listid"), problems)
        if problems:
            raise Reply(422, shapes.errors(problems))
        row = self.store.insert_webhook(item["name"], item["url"], _unique(item["events"]),
                                        _unique(item["sources"]), listid)
        return 201, {"webhook": webhook_shape(row)}

    def _listid(self, value, problems):
        """0 (every list) when absent; otherwise the id of an existing list."""
        if value in (None, 0, "0"):
            return 0
        listid = parse_id(value)
        if listid is None:
            problems.append(_error("The listid must be a list id or 0", "listid"))
        elif self.store.get_list(listid) is None:
            problems.append(_error(f"No list with id {listid}", "listid", "related_missing"))
        return listid

    def list_webhooks(self, query, body):
        """``filters[name]``, ``filters[url]`` and ``filters[listid]`` match exactly; other parameters are ignored."""
        rows = [webhook_shape(row) for row in self.store.all_webhooks()]
        for key in ("name", "url", "listid"):
            wanted = query.get(f"filters[{key}]")
            if wanted:
                rows = [row for row in rows if row[key] == wanted[0]]
        limit, offset = self.paged(query)
        return 200, {"webhooks": rows[offset:offset + limit], "meta": shapes.meta(len(rows))}

    def _existing(self, webhook_id):
        row = self.store.get_webhook(webhook_id)
        if row is None:
            raise Reply(404, shapes.message(f"No Result found for Webhook with id {webhook_id}"))
        return row

    def get_webhook(self, query, body, webhook_id):
        return 200, {"webhook": webhook_shape(self._existing(webhook_id))}

    def delete_webhook(self, query, body, webhook_id):
        self._existing(webhook_id)
        self.store.delete_webhook(webhook_id)
        return 200, {}

    def webhook_events(self, query, body):
        """AC's list of event names; ``meta.total`` is a number here, as AC's reference shows."""
        return 200, {"webhookEvents": list(EVENTS), "meta": {"total": len(EVENTS)}}
