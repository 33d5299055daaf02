"""The read-only HTML page at ``/``: every contact with its fields, tags and lists.

Below them it names the custom fields with no relation and the lists in no
user group: AC's UI does not show those (docs/activecampaign.md §11.3), which
is the trap an account set up through the API falls into.

Every value is escaped: contact data is attacker-controlled (a badge name can
be ``<script>``), and this page must show it as text.
"""

from html import escape

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
p.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ddd; padding: .4rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
dl { margin: 0; display: grid; grid-template-columns: max-content auto; gap: 0 .8rem; }
dt { color: #666; font-family: monospace; }
dd { margin: 0; white-space: pre-wrap; }
.tag { display: inline-block; background: #eef; border-radius: 3px; padding: 0 .3rem; margin: 0 .2rem .2rem 0; }
.empty { color: #666; }
"""

_LIST_STATUS = {1: "subscribed", 2: "unsubscribed"}


def render(contacts, catalog=None):
    """The page for ``contacts`` as ``Store.dump_contacts`` returns them, and ``Store.catalog``."""
    if contacts:
        rows = "\n".join(_contact_row(c) for c in contacts)
        body = (
            "<table><thead><tr><th>Id</th><th>Email</th><th>Name</th><th>Phone</th>"
            "<th>Fields</th><th>Tags</th><th>Lists</th><th>Updated</th></tr></thead>"
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
        f"<p class=\"sub\">Read-only view of the emulated account &middot; {count}</p>"
        f"{body}{_hidden_in_ui(catalog or {})}</body></html>\n"
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


def _contact_row(contact):
    name = " ".join(part for part in (contact["firstName"], contact["lastName"]) if part)
    fields = "".join(
        f"<dt>{escape(perstag)}</dt><dd>{escape(value)}</dd>" for perstag, value in sorted(contact["fields"].items()))
    tags = "".join(f'<span class="tag">{escape(tag)}</span>' for tag in contact["tags"])
    lists = "<br>".join(
        f"{escape(stringid)}: {_LIST_STATUS.get(status, escape(str(status)))}"
        for stringid, status in contact["lists"].items())
    cells = [
        escape(contact["id"]), escape(contact["email"]), escape(name), escape(contact["phone"]),
        f"<dl>{fields}</dl>" if fields else "", tags, lists, escape(contact["updated"]),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
