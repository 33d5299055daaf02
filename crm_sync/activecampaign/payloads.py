"""Every request body crm_sync sends to AC, built in one place. Pure: no
HTTP, no database; ids come in as arguments.

`payload` below is a contact as the mapping builds it (a ContactPayload):
`email`, `contact` (AC's contact attributes by their API names), `fields`
({perstag: value}) and `tags` (names). Empty values are already left out of
it, so nothing stored in AC is blanked.
"""
import json

from ..crm import SUBSCRIBED, UNSUBSCRIBED  # noqa: F401  (the statuses contact_list_body takes)
from ..errors import NotBulkable

# AC's docs: set sourceid 4 when subscribing someone again (docs/activecampaign.md §6).
RESUBSCRIBE_SOURCE = 4


def contact_body(payload, field_ids):
    """The body of `POST /contact/sync` or `PUT /contacts/{id}`: every
    value in one call, custom fields by id (`field_ids`: {perstag: id})."""
    return {"contact": {
        "email": payload.email,
        **payload.contact,
        "fieldValues": [
            {"field": field_ids[perstag], "value": value} for perstag, value in sorted(payload.fields.items())
        ],
    }}


def contact_tag_body(contact_id, tag_id):
    """The body of `POST /contactTags`: attach one tag to one contact."""
    return {"contactTag": {"contact": contact_id, "tag": tag_id}}


def contact_list_body(list_id, contact_id, status, *, resubscribe=False):
    """The body of `POST /contactLists`. `resubscribe`: the contact was
    unsubscribed and is subscribed again, which AC accepts only with
    sourceid 4."""
    body = {"list": list_id, "contact": contact_id, "status": status}
    if resubscribe:
        body["sourceid"] = RESUBSCRIBE_SOURCE
    return {"contactList": body}


def tag_body(name):
    """The body of `POST /tags`: a contact tag crm_sync creates."""
    return {"tag": {"tag": name, "tagType": "contact", "description": "Added by crm_sync"}}


# -- the bulk importer (docs/activecampaign.md §7) ---------------------------------------------
BULK_MAX_CONTACTS = 250       # rows per request
BULK_MAX_BYTES = 400_000      # a request body must be under this many bytes
# Its contact attributes are snake_case; these are the ones it takes.
_SNAKE_CASE = {"firstName": "first_name", "lastName": "last_name", "phone": "phone"}
# What `requests` sends: json.dumps with its default separators, so sizes are exact.
_ENVELOPE = len(json.dumps({"contacts": []}))


def bulk_contact(payload, field_ids, list_id, exclude_automations):
    """The bulk importer's row for `payload`: snake_case names, custom
    fields by id, tags by name, the list by id. Raises NotBulkable
    (crm_sync.errors) for a contact attribute the importer has no name for."""
    unknown = set(payload.contact) - set(_SNAKE_CASE)
    if unknown:
        raise NotBulkable(f"contact attribute(s) {', '.join(sorted(unknown))} have no bulk importer name")
    row = {"email": payload.email}
    for name, value in payload.contact.items():
        row[_SNAKE_CASE[name]] = value
    if payload.fields:
        row["fields"] = [{"id": _id(field_ids[perstag]), "value": value}
                         for perstag, value in sorted(payload.fields.items())]
    if payload.tags:
        row["tags"] = list(payload.tags)
    row["subscribe"] = [{"listid": _id(list_id)}]
    row["exclude_automations"] = exclude_automations
    return row


def bulk_import_body(rows):
    """The body of `POST /import/bulk_import`."""
    return {"contacts": rows}


def row_size(row):
    """Bytes `row` adds to a bulk request body, with the separator before it."""
    return len(json.dumps(row)) + len(", ")


def request_size(total_row_sizes, count):
    """Bytes of a bulk request body holding `count` rows of these sizes."""
    return _ENVELOPE + total_row_sizes - (len(", ") if count else 0)


def bulk_request_fits(total_row_sizes, count):
    """Whether a bulk request body of `count` rows of these sizes stays under BULK_MAX_BYTES."""
    return request_size(total_row_sizes, count) < BULK_MAX_BYTES


def _id(value):
    return int(value) if str(value).isdigit() else value


# -- the account's schema: `crm_sync_schema --apply` (docs/activecampaign.md §11.3) -----------
ALL_LISTS = 0        # a fieldRel's relid that relates the field to every list
ADMIN_GROUP = 3      # AC's default admin user group: an API-made list shows in AC's UI once the group has it
FIELD_DESCRIPTION = "Kept up to date by crm_sync"


def field_body(perstag, title, field_type):
    """The body of `POST /fields`: a custom field, visible, not required."""
    return {"field": {"type": field_type, "title": title, "perstag": perstag, "descript": FIELD_DESCRIPTION,
                      "isrequired": 0, "visible": 1}}


def field_rel_body(field_id):
    """The body of `POST /fieldRels`: the field belongs to every list, so
    AC's UI shows it (a field without one is hidden)."""
    return {"fieldRel": {"field": _id(field_id), "relid": ALL_LISTS}}


def field_options_body(field_id, values, first_orderid=1):
    """The body of `POST /fieldOption/bulk`: `values` as options of the
    field, each its own label, after the options it has. AC takes only an
    array under `fieldOptions` (an object gets 422)."""
    return {"fieldOptions": [
        {"field": _id(field_id), "label": value, "value": value, "orderid": first_orderid + n, "isdefault": False}
        for n, value in enumerate(values)
    ]}


def list_body(stringid, name, sender_url, sender_reminder):
    """The body of `POST /lists`: the four attributes AC requires."""
    return {"list": {"name": name, "stringid": stringid, "sender_url": sender_url,
                     "sender_reminder": sender_reminder}}


def list_group_body(list_id):
    """The body of `POST /listGroups`: the admin group gets the list."""
    return {"listGroup": {"listid": _id(list_id), "groupid": ADMIN_GROUP}}


# -- what comes back: list status, changes, webhooks (docs/activecampaign.md §8) -------------
def webhook_body(name, url, events, sources, list_id):
    """The body of `POST /webhooks`: AC posts the `events` on the list
    `list_id` caused by the `sources` to `url` (which carries the receiver's
    token: never log this body)."""
    return {"webhook": {"name": name, "url": url, "events": list(events), "sources": list(sources),
                        "listid": _id(list_id)}}
