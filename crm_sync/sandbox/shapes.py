"""AC's JSON shapes, built from store rows. Pure functions, no I/O.

Shapes follow the examples in AC's doc-derived OpenAPI file (docs/activecampaign.md §0): ids,
foreign keys and counts are strings, timestamps are ISO 8601 with an offset.
``base`` is the API root (``http://host:port/api/3``) used in ``links``.
"""

import hashlib

_CONTACT_LINKS = (
    "bounceLogs", "contactAutomations", "contactData", "contactGoals", "contactLists", "contactLogs",
    "contactTags", "contactDeals", "deals", "fieldValues", "geoIps", "notes", "organization",
    "plusAppend", "trackingLogs", "scoreValues", "accountContacts", "automationEntryCounts",
)


def contact(row, base, field_value_ids=None):
    contact_id = str(row["id"])
    shape = {
        "email": row["email"],
        "phone": row["phone"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "email_empty": False,
        "cdate": row["cdate"],
        "udate": row["udate"],
        "orgid": "",
        "orgname": "",
        "deleted": "0",
        "hash": hashlib.md5(row["email"].lower().encode()).hexdigest(),
        "links": {name: f"{base}/contacts/{contact_id}/{name}" for name in _CONTACT_LINKS},
        "id": contact_id,
        "organization": "",
    }
    if field_value_ids is not None:
        shape["fieldValues"] = [str(i) for i in field_value_ids]
    return shape


def field_value(row, base):
    value_id = str(row["id"])
    return {
        "contact": str(row["contact_id"]),
        "field": str(row["field_id"]),
        "value": row["value"],
        "cdate": row["cdate"],
        "udate": row["udate"],
        "created_by": None,
        "updated_by": None,
        "links": {"owner": f"{base}/fieldValues/{value_id}/owner", "field": f"{base}/fieldValues/{value_id}/field"},
        "id": value_id,
        "owner": str(row["contact_id"]),
    }


def _flag(value):
    """A 0/1 column as AC writes it in field rows: a string."""
    return "1" if value else "0"


def field(row, option_ids, rel_ids, base):
    field_id = str(row["id"])
    return {
        "title": row["title"],
        "descript": row["descript"],
        "type": row["type"],
        "isrequired": _flag(row["isrequired"]),
        "perstag": row["perstag"],
        "defval": row["defval"],
        "show_in_list": "0",
        "rows": "0",
        "cols": "0",
        "visible": _flag(row["visible"]),
        "service": "",
        "ordernum": str(row["ordernum"]),
        "cdate": row["cdate"],
        "udate": row["cdate"],
        "options": [str(i) for i in option_ids],
        "relations": [str(i) for i in rel_ids],
        "links": {"options": f"{base}/fields/{field_id}/options", "relations": f"{base}/fields/{field_id}/relations"},
        "id": field_id,
    }


def field_rel(row):
    """A fieldRel as ``GET /fields`` sideloads it (every value a string)."""
    return {"field": str(row["field_id"]), "relid": str(row["relid"]), "dorder": "0", "cdate": row["cdate"],
            "links": [], "id": str(row["id"])}


def created_field_rel(row):
    """A fieldRel as ``POST /fieldRels`` answers it: AC echoes ``field`` and ``relid`` as numbers."""
    return {"relid": row["relid"], "field": row["field_id"], "cdate": row["cdate"], "links": [],
            "id": str(row["id"])}


def field_option(row, base):
    return {
        "field": str(row["field_id"]),
        "orderid": row["orderid"],
        "value": row["value"],
        "label": row["label"],
        "isdefault": row["isdefault"],
        "cdate": row["cdate"],
        "udate": row["cdate"],
        "links": {"field": f"{base}/fieldOptions/{row['id']}/field"},
        "id": str(row["id"]),
    }


def tag(row, base):
    return {
        "tagType": row["tag_type"],
        "tag": row["tag"],
        "description": row["description"],
        "cdate": row["cdate"],
        "links": {"contactGoalTags": f"{base}/tags/{row['id']}/contactGoalTags"},
        "id": str(row["id"]),
    }


def contact_tag(row, base):
    contact_tag_id = str(row["id"])
    return {
        "contact": str(row["contact_id"]),
        "tag": str(row["tag_id"]),
        "cdate": row["cdate"],
        "created_timestamp": row["cdate"],
        "updated_timestamp": row["cdate"],
        "created_by": None,
        "updated_by": None,
        "links": {"contact": f"{base}/contactTags/{contact_tag_id}/contact",
                  "tag": f"{base}/contactTags/{contact_tag_id}/tag"},
        "id": contact_tag_id,
    }


def mailing_list(row, base):
    list_id = str(row["id"])
    return {
        "stringid": row["stringid"],
        "userid": "1",
        "name": row["name"],
        "cdate": row["cdate"],
        "udate": row["cdate"],
        "sender_url": row["sender_url"],
        "sender_reminder": row["sender_reminder"],
        "private": "0",
        "optinoptout": "1",
        "links": {"contactGoalLists": f"{base}/lists/{list_id}/contactGoalLists",
                  "user": f"{base}/lists/{list_id}/user", "addressLists": f"{base}/lists/{list_id}/addressLists"},
        "id": list_id,
        "user": "1",
    }


def list_group(row, base):
    """A listGroup as ``POST /listGroups`` answers it: ``list`` and ``group`` are numbers."""
    row_id = str(row["id"])
    return {
        "list": row["list_id"],
        "group": row["group_id"],
        "links": {"list": f"{base}/listGroups/{row_id}/list", "group": f"{base}/listGroups/{row_id}/group"},
        "id": row_id,
    }


def contact_list(row, base, status_as_number=False):
    """A contactList; ``POST /contactLists`` answers ``status`` as a number (§11.1), reads as a string."""
    row_id = str(row["id"])
    return {
        "contact": str(row["contact_id"]),
        "list": str(row["list_id"]),
        "form": None,
        "seriesid": "0",
        "sdate": row["sdate"],
        "udate": row["udate"],
        "status": row["status"] if status_as_number else str(row["status"]),
        "responder": "1",
        "sync": "0",
        "unsubreason": None,
        "sourceid": str(row["sourceid"]),
        "links": {name: f"{base}/contactLists/{row_id}/{name}" for name in ("automation", "list", "contact", "form")},
        "id": row_id,
        "automation": None,
    }


def meta(total):
    return {"total": str(total)}


# -- error bodies (docs/activecampaign.md §3.4: AC's shapes differ per endpoint) -----------

def attribute_error(title, pointer, code="field_invalid", detail=""):
    """One item of the JSON:API-like ``errors[]`` used by the contact endpoints."""
    item = {"title": title, "detail": detail, "code": code}
    if pointer:
        item["source"] = {"pointer": pointer}
    return item


def errors(items):
    return {"errors": items}


def status_error(status, title, detail=None, pointer=None):
    """``errors[]`` with an int ``status``, as ``POST /contactTags`` answers."""
    item = {"status": status, "title": title}
    if detail is not None:
        item["detail"] = detail
    if pointer is not None:
        item["source"] = {"pointer": pointer}
    return {"errors": [item]}


def message(text):
    return {"message": text}


def bulk_failure(message_text, reasons):
    return {"success": 0, "message": message_text, "failureReasons": reasons}
