"""The HTML page at ``/``: every contact with its fields, tags and lists.

Each contact has the buttons its own actions would be in AC's emails and
pages: "Unsubscribe", "Subscribe again" and "Hard bounce". They post to the
control API and fire the webhooks AC would (``initiated_from=public``, or
``system`` for the bounce). Below the contacts: the registered webhooks and
the latest deliveries, with URLs masked (a receiver's URL holds its token).

It also names the custom fields with no relation and the lists in no user
group: AC's UI does not show those (docs/activecampaign.md §11.3), which is
the trap an account set up through the API falls into.

Times are shown in the account's time zone, as AC shows them, and the page
says which. It fits a 1280 px wide window: long emails, URLs and field values wrap.

Every value is escaped: contact data is attacker-controlled (a badge name can
be ``<script>``), and this page must show it as text.
"""

import datetime
from html import escape

from .store import ACCOUNT_TZ

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
p.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ddd; padding: .4rem .5rem; text-align: left; vertical-align: top; }
/* Long emails, URLs and field values (BADGE_IMAGE_URL) wrap anywhere, so that the
   page fits a 1280 px window. Wrapping anywhere lets a cell shrink to one letter,
   so an email and a field's value keep a minimum width that the layout honours. */
.email, td code, dd { overflow-wrap: anywhere; }
th.email { width: 12em; }
span.email { display: inline-block; min-width: 10em; }
th { background: #f5f5f5; }
dl { margin: 0; display: grid; grid-template-columns: auto auto; gap: 0 .8rem; }
dt { color: #666; font-family: monospace; }
dd { margin: 0; white-space: pre-wrap; min-width: 10em; }
.tag { display: inline-block; background: #eef; border-radius: 3px; padding: 0 .3rem; margin: 0 .2rem .2rem 0; }
.empty { color: #666; }
form.action { margin: 0 0 .3rem; display: flex; flex-wrap: wrap; gap: .3rem; }
form.action input[type=text] { width: 7rem; }
.off { color: #a00; }
"""

_LIST_STATUS = {1: "subscribed", 2: "unsubscribed"}
_DELIVERIES_SHOWN = 20
_ACTIVE = "active"
_SWITCHED_OFF = '<span class="off">switched off (answered 410)</span>'


def render(contacts, catalog=None, webhooks=(), deliveries=()):
    """The page for ``contacts`` as ``Store.dump_contacts`` returns them, ``Store.catalog``,
    the webhooks as ``Sandbox.webhooks`` and the delivery records as ``WebhookSender.records`` give them."""
    if contacts:
        rows = "\n".join(_contact_row(c) for c in contacts)
        body = (
            "<table><thead><tr><th>Id</th><th class=\"email\">Email</th><th>Name</th><th>Phone</th>"
            f"<th>Fields</th><th>Tags</th><th>Lists</th><th>Updated ({_zone()})</th><th>Act as the contact</th>"
            "</tr></thead>"
            f"<tbody>\n{rows}\n</tbody></table>"
        )
    else:
        body = (
            '<p class="empty">No contacts yet.</p>'
            '<p class="empty">Contacts only appear for attendees who ticked the opt-in box.</p>'
        )
    count = f"{len(contacts)} contact{'' if len(contacts) == 1 else 's'}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>ActiveCampaign sandbox</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>ActiveCampaign sandbox</h1>"
        f"<p class=\"sub\">The emulated account &middot; {count} &middot; "
        "the buttons do what the contact would, and fire the webhooks AC would &middot; "
        f"times in the account&rsquo;s time zone, {_zone()}, as AC shows them</p>"
        f"{body}{_webhooks(webhooks, deliveries)}{_hidden_in_ui(catalog or {})}</body></html>\n"
    )


def _hidden_in_ui(catalog):
    """A section naming fields without a relation and lists without a group, or ""."""
    items = [f"Field {escape(f['perstag'])} (&ldquo;{escape(f['title'])}&rdquo;): no fieldRel"
             for f in catalog.get("fields", []) if not f["relations"]]
    items += [f"List {escape(item['stringid'])} (&ldquo;{escape(item['name'])}&rdquo;): in no user group"
              for item in catalog.get("lists", []) if not item["groups"]]
    if not items:
        return ""
    rows = "".join(f"<li>{item}</li>" for item in items)
    return f"<h2>Hidden in AC&rsquo;s UI</h2><ul class=\"hidden-in-ui\">{rows}</ul>"


def _webhooks(webhooks, deliveries):
    """The registered webhooks and the latest deliveries (newest first), or ""."""
    if not webhooks and not deliveries:
        return ""
    hooks = "".join(
        f"<tr><td>{escape(w['id'])}</td><td>{escape(w['name'])}</td><td><code>{escape(w['url'])}</code></td>"
        f"<td>{escape(', '.join(w['events']))}</td><td>{escape(', '.join(w['sources']))}</td>"
        f"<td>{escape(w['listid'])}</td>"
        f"<td>{_ACTIVE if w['active'] else _SWITCHED_OFF}</td></tr>"
        for w in webhooks)
    sent = "".join(
        f"<tr><td>{_account_time(d['date_time'])}</td><td>{escape(d['type'])}</td>"
        f"<td><span class=\"email\">{escape(d['email'])}</span></td>"
        f"<td>{escape(d['initiated_from'])}</td><td><code>{escape(d['url'])}</code></td>"
        f"<td>{escape(d['outcome'])} {escape(str(d['status'] or d['error'] or ''))}</td></tr>"
        for d in list(deliveries)[-_DELIVERIES_SHOWN:][::-1])
    return (
        "<h2>Webhooks</h2><table class=\"webhooks\"><thead><tr><th>Id</th><th>Name</th><th>URL</th><th>Events</th>"
        f"<th>Sources</th><th>List</th><th>State</th></tr></thead><tbody>{hooks}</tbody></table>"
        f"<h2>Latest deliveries</h2><table class=\"deliveries\"><thead><tr><th>Event time ({_zone()})</th><th>Type</th>"
        "<th class=\"email\">Contact</th><th>Initiated from</th><th>URL</th><th>Outcome</th></tr></thead>"
        f"<tbody>{sent}</tbody></table>"
    )


def _action(path, email, label, reason=False):
    """One button: a form posting the contact's email to a control action."""
    extra = '<input type="text" name="reason" placeholder="reason (optional)" aria-label="reason">' if reason else ""
    return (f'<form class="action" method="post" action="/_sandbox/{path}">'
            f'<input type="hidden" name="email" value="{escape(email)}">{extra}'
            f'<button type="submit">{label}</button></form>')


def _actions(contact):
    """The buttons that make sense for the contact's list statuses."""
    statuses = set(contact["lists"].values())
    buttons = []
    if 1 in statuses:
        buttons.append(_action("unsubscribe", contact["email"], "Unsubscribe", reason=True))
    if 2 in statuses:
        buttons.append(_action("subscribe", contact["email"], "Subscribe again"))
    if 1 in statuses:
        buttons.append(_action("bounce", contact["email"], "Hard bounce"))
    return "".join(buttons)


def _contact_row(contact):
    name = " ".join(part for part in (contact["firstName"], contact["lastName"]) if part)
    fields = "".join(
        f'<dt title="{escape(perstag)}">{_breakable(perstag)}</dt><dd>{escape(value)}</dd>'
        for perstag, value in sorted(contact["fields"].items()))
    tags = "".join(f'<span class="tag">{escape(tag)}</span>' for tag in contact["tags"])
    lists = "<br>".join(
        f"{escape(stringid)}: {_LIST_STATUS.get(status, escape(str(status)))}"
        for stringid, status in contact["lists"].items())
    cells = [
        escape(contact["id"]), f'<span class="email">{escape(contact["email"])}</span>', escape(name),
        escape(contact["phone"]),
        f"<dl>{fields}</dl>" if fields else "", tags, lists, _account_time(contact["updated"]), _actions(contact),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _breakable(perstag):
    """A perstag that may wrap after its underscores (EMERGENCY_CONTACT_PHONE), so the
    Fields column can be narrow without cutting a word in two; its `title` holds it whole."""
    return "_<wbr>".join(escape(part) for part in perstag.split("_"))


def _zone():
    """The account's time zone by name (AC's own: America/Chicago), or its offset."""
    return escape(getattr(ACCOUNT_TZ, "key", None) or str(ACCOUNT_TZ))


def _account_time(text):
    """An ISO 8601 time as AC writes it, in the account's time zone, to the
    second: ``2026-05-01 09:30:00``. Anything else is shown as it is."""
    try:
        moment = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return escape(str(text))
    if moment.tzinfo is not None:
        moment = moment.astimezone(ACCOUNT_TZ)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
