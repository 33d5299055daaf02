"""Creating the account's schema: ``POST /fields``, ``/fieldRels``,
``/fieldOption/bulk``, ``/lists`` and ``/listGroups``
(docs/activecampaign.md §4, §6, §11.3).

Validation and answer shapes follow AC's documentation. Where it is silent
the sandbox takes the strict side, so a client that sets up an account here
also sets it up in AC (each such choice is listed in docs/sandbox.md):

- a perstag may hold only letters, digits and ``_`` (upper-cased first), and
  titles, perstags and list stringids are compared case-insensitively;
- relating a field to the same list twice, adding a list to the same group
  twice, or giving two options of one field the same value is a 422;
- options need a field that takes options, a label and a value.

A field made here has no relation and a list made here is in no group, as in
AC: until ``POST /fieldRels`` and ``POST /listGroups`` they are hidden in AC's
UI, and the sandbox's catalog and page show that.
"""

import re

from . import shapes
from .replies import Reply, parse_json_object
from .store import ALL_LISTS
from .validation import MULTI_VALUE_TYPES, SINGLE_OPTION_TYPES, parse_id

# The types AC's create-field page lists, plus ``number`` from its examples.
FIELD_TYPES = ("dropdown", "hidden", "checkbox", "date", "text", "datetime", "textarea", "listbox", "radio",
               "number")
OPTION_TYPES = MULTI_VALUE_TYPES + SINGLE_OPTION_TYPES
LIST_REQUIRED = ("name", "stringid", "sender_url", "sender_reminder")
_PERSTAG = re.compile(r"^[A-Z0-9_]+$")
_STRINGID = re.compile(r"^[A-Za-z0-9_-]+$")
# AC's own words when the body is not an array under ``fieldOptions``; this
# endpoint's errors are a string, not a list (docs/activecampaign.md §3.4).
_BULK_FAILED = "Bulk operation failed."
_NOT_AN_ARRAY = f"{_BULK_FAILED} Request must contain an array of fieldOption objects."


def _error(title, code, detail="", pointer=None):
    return shapes.attribute_error(title, pointer, code=code, detail=detail)


def _refuse(*items):
    return Reply(422, shapes.errors(list(items)))


def _wrapped(body, key):
    """The object under ``key`` in the JSON body (``{"field": {...}}``), else a 422."""
    item = parse_json_object(body).get(key)
    if not isinstance(item, dict):
        raise _refuse(_error(f"{key} is required", "field_missing", pointer=f"/data/attributes/{key}"))
    return item


def _is_flag(value):
    return value in (True, False, 0, 1, "0", "1")


def _is_count(value):
    """A non-negative int, or a string of digits (0 included)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value >= 0
    return isinstance(value, str) and value.isascii() and value.isdigit()


def _flag(key, value, default):
    """0 or 1 from a bool, 0/1 or "0"/"1"; a 422 for anything else."""
    if value is None:
        return default
    if not _is_flag(value):
        raise _refuse(_error(f"{key} must be 0 or 1", "field_invalid", pointer=f"/data/attributes/{key}"))
    return 1 if value in (True, 1, "1") else 0


def _count(key, value, default):
    """A non-negative int from an int or a string of digits; a 422 for anything else."""
    if value is None:
        return default
    if not _is_count(value):
        raise _refuse(_error(f"{key} must be a whole number", "field_invalid", pointer=f"/data/attributes/{key}"))
    return int(value)


def _optional_text(key, value):
    if value is None or isinstance(value, str):
        return value
    raise _refuse(_error(f"{key} must be a string", "field_invalid", pointer=f"/data/attributes/{key}"))


def _blank(value):
    return not isinstance(value, str) or not value.strip()


def perstag_for(title, perstag):
    """The perstag AC would store: the one given, upper-cased, or one made from the title."""
    if perstag in (None, ""):
        return re.sub(r"[^A-Z0-9]+", "_", title.upper()).strip("_")
    return perstag.upper() if isinstance(perstag, str) else perstag


class SchemaEndpoints:
    """The schema-creating endpoints, over one ``Store``; ``Api`` routes to them."""

    def __init__(self, store, base_url):
        self.store = store
        self.base = base_url

    # -- fields ------------------------------------------------------------

    def create_field(self, query, body):
        item = _wrapped(body, "field")
        title, type_ = item.get("title"), item.get("type")
        problems = []
        if _blank(title):
            problems.append(_error("The field title was not provided.", "field_missing"))
        if type_ in (None, ""):
            problems.append(_error("The field type was not provided.", "field_missing"))
        elif type_ not in FIELD_TYPES:
            problems.append(_error(f"'{type_}' is not a field type", "field_invalid",
                                   detail=f"type must be one of {', '.join(FIELD_TYPES)}"))
        if problems:
            raise _refuse(*problems)
        perstag = perstag_for(title, item.get("perstag"))
        if not isinstance(perstag, str) or not _PERSTAG.match(perstag):
            raise _refuse(_error("The personalization tag may hold only letters, digits and _", "field_invalid",
                                 detail=f"'{item.get('perstag')}' is not a valid personalization tag"))
        self._refuse_duplicate_field(title, perstag)
        row = self.store.insert_field(
            title, perstag, type_,
            ordernum=_count("ordernum", item.get("ordernum"), self.store.next_ordernum()),
            descript=_optional_text("descript", item.get("descript")),
            defval=_optional_text("defval", item.get("defval")),
            isrequired=_flag("isrequired", item.get("isrequired"), 0),
            visible=_flag("visible", item.get("visible"), 1))
        return 201, {"field": shapes.field(row, [], [], self.base)}

    def _refuse_duplicate_field(self, title, perstag):
        """AC's two 422s for a field that already exists, in its words."""
        if self.store.find_field_by_perstag(perstag):
            raise _refuse(_error(
                "There is already a field with this personalization tag", "field_invalid",
                detail=f"There is already a personalization tag named '{perstag}' -- choose another name"))
        if self.store.find_field_by_title_ci(title):
            raise _refuse(_error(
                "There is already a field with this title", "duplicate",
                detail=f"There is already a field named '{title}' -- choose another name"))

    def create_field_rel(self, query, body):
        item = _wrapped(body, "fieldRel")
        field_id = parse_id(item.get("field"))
        if field_id is None:
            raise _refuse(_error("The field id is required", "field_missing", pointer="/data/attributes/field"))
        if item.get("relid") is None:
            raise _refuse(_error("The relid is required (0 = all lists)", "field_missing",
                                 pointer="/data/attributes/relid"))
        relid = _count("relid", item["relid"], ALL_LISTS)
        if self.store.get_field(field_id) is None:
            raise _refuse(_error("Field not found", "related_missing", detail=f"No field with id {field_id}",
                                 pointer="/data/attributes/field"))
        if relid != ALL_LISTS and self.store.get_list(relid) is None:
            raise _refuse(_error("List not found", "related_missing", detail=f"No list with id {relid}",
                                 pointer="/data/attributes/relid"))
        if self.store.find_field_rel(field_id, relid):
            raise _refuse(_error("The field is already related to this list", "duplicate",
                                 pointer="/data/attributes/relid"))
        return 201, {"fieldRel": shapes.created_field_rel(self.store.insert_field_rel(field_id, relid))}

    def create_field_options(self, query, body):
        """All the options or none: one bad item refuses the request (a string ``errors``)."""
        options = parse_json_object(body).get("fieldOptions")
        if not isinstance(options, list) or not options or not all(isinstance(o, dict) for o in options):
            raise Reply(422, {"errors": _NOT_AN_ARRAY})
        taken = {}  # field id -> option values, stored and earlier in this request
        problems = []
        for index, option in enumerate(options):
            problem = self._option_problem(option, taken)
            if problem:
                problems.append(f"fieldOptions[{index}]: {problem}")
        if problems:
            raise Reply(422, {"errors": f"{_BULK_FAILED} {'; '.join(problems)}"})
        rows = [self._insert_option(option) for option in options]
        return 201, {"fieldOptions": [shapes.field_option(row, self.base) for row in rows]}

    def _option_problem(self, option, taken):
        """Why this option cannot be added, or None; records its value in ``taken``."""
        field_id = parse_id(option.get("field"))
        field = self.store.get_field(field_id) if field_id else None
        if field is None:
            return f"no field with id {option.get('field')!r}"
        if field["type"] not in OPTION_TYPES:
            return f"field {field_id} is a {field['type']} field, which takes no options"
        if _blank(option.get("label")):
            return "a label is required"
        value = option.get("value")
        if _blank(value):
            return "a value is required"
        if "||" in value:
            return "a value may not contain || (it separates values in multi-value fields)"
        values = taken.setdefault(field_id, set(self.store.option_values(field_id)))
        if value in values:
            return f"field {field_id} already has an option with value '{value}'"
        values.add(value)
        if option.get("orderid") is not None and not _is_count(option["orderid"]):
            return "orderid must be a whole number"
        if option.get("isdefault") is not None and not _is_flag(option["isdefault"]):
            return "isdefault must be 0 or 1"
        return None

    def _insert_option(self, option):
        field_id = parse_id(option["field"])
        orderid = _count("orderid", option.get("orderid"), None) or self.store.next_orderid(field_id)
        return self.store.insert_field_option(field_id, option["label"], option["value"], orderid,
                                              _flag("isdefault", option.get("isdefault"), 0))

    # -- lists -------------------------------------------------------------

    def create_list(self, query, body):
        """200, not 201: AC's create-list page documents 200, unlike its other creates."""
        item = _wrapped(body, "list")
        problems = [_error(f"The list {key} was not provided.", "field_missing", pointer=f"/data/attributes/{key}")
                    for key in LIST_REQUIRED if _blank(item.get(key))]
        if problems:
            raise _refuse(*problems)
        stringid = item["stringid"]
        if not _STRINGID.match(stringid):
            raise _refuse(_error("The stringid must be URL-safe (letters, digits, - and _)", "field_invalid",
                                 pointer="/data/attributes/stringid"))
        if self.store.find_list_by_stringid_ci(stringid):
            raise _refuse(_error("There is already a list with this stringid", "duplicate",
                                 detail=f"There is already a list with stringid '{stringid}'",
                                 pointer="/data/attributes/stringid"))
        row = self.store.insert_list(item["name"], stringid, item["sender_url"], item["sender_reminder"])
        return 200, {"list": shapes.mailing_list(row, self.base)}

    def create_list_group(self, query, body):
        item = _wrapped(body, "listGroup")
        ids = {key: parse_id(item.get(key)) for key in ("listid", "groupid")}
        missing = [_error(f"The {key} is required", "field_missing", pointer=f"/data/attributes/{key}")
                   for key, value in ids.items() if value is None]
        if missing:
            raise _refuse(*missing)
        if self.store.get_list(ids["listid"]) is None:
            raise _refuse(_error("List not found", "related_missing", detail=f"No list with id {ids['listid']}",
                                 pointer="/data/attributes/listid"))
        if self.store.find_list_group(ids["listid"], ids["groupid"]):
            raise _refuse(_error("The list is already in this group", "duplicate", pointer="/data/attributes/groupid"))
        row = self.store.insert_list_group(ids["listid"], ids["groupid"])
        return 201, {"listGroup": shapes.list_group(row, self.base)}
