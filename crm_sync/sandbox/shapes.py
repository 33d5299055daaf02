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


def field(row, option_ids, base):
    field_id = str(row["id"])
    return {
        "title": row["title"],
        "descript": None,
        "type": row["type"],
        "isrequired": "0",
        "perstag": row["perstag"],
        "defval": None,
        "show_in_list": "0",
        "rows": "0",
        "cols": "0",
        "visible": "1",
        "service": "",
        "ordernum": str(row["ordernum"]),
        "cdate": row["cdate"],
        "udate": row["cdate"],
        "options": [str(i) for i in option_ids],
        # Every seeded field is related to all lists (relid 0); its fieldRel
        # shares the field's id, which is enough for a read-only catalog.
        "relations": [field_id],
        "links": {"options": f"{base}/fields/{field_id}/options", "relations": f"{base}/fields/{field_id}/relations"},
        "id": field_id,
    }


def field_rel(field_id):
    return {"field": str(field_id), "relid": "0", "dorder": "0", "cdate": None, "links": [], "id": str(field_id)}


def field_option(row, base):
    return {
        "field": str(row["field_id"]),
        "orderid": row["orderid"],
        "value": row["value"],
        "label": row["label"],
        "isdefault": 0,
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
        "private": "0",
        "optinoptout": "1",
        "links": {"contactGoalLists": f"{base}/lists/{list_id}/contactGoalLists",
                  "user": f"{base}/lists/{list_id}/user", "addressLists": f"{base}/lists/{list_id}/addressLists"},
        "id": list_id,
        "user": "1",
    }


def contact_list(row, base):
    row_id = str(row["id"])
    return {
        "contact": str(row["contact_id"]),
        "list": str(row["list_id"]),
        "form": None,
        "seriesid": "0",
        "sdate": row["sdate"],
        "udate": row["udate"],
        "status": str(row["status"]),
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
