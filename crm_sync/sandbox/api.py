"""The ``/api/3`` endpoints: parse a request, check it, apply it, shape the answer.

``Api.handle`` is called by the server once a request has passed auth, the
rate limiter and the faults. It runs the whole request inside one store
transaction and returns ``(status, body)`` where ``body`` is JSON-able.

Strictness follows docs/sandbox.md: blank values overwrite, emails match
case-insensitively, unknown attributes and bad custom field values are
refused with 422, pages hold 20 by default and 100 at most.
"""

import datetime
import re
import urllib.parse

from . import shapes
from .limits import PAGE_DEFAULT, PAGE_MAX
from .replies import BadRequest, Reply, parse_json_object
from .schema import SchemaEndpoints
from .store import in_account_timezone, to_account_timezone
from .validation import email_problem, field_value_problem, parse_datetime, parse_id, text_problem
from .webhooks import WebhookEndpoints


# contact/sync and /contacts attribute names (camelCase) -> store columns.
_CONTACT_ATTRIBUTES = {"firstName": "first_name", "lastName": "last_name", "phone": "phone"}
# Accepted but ignored: deprecated or unsupported by the sandbox (see docs).
_CONTACT_IGNORED = {"orgid", "deleted", "allowNullEmail"}


def _first(query, key, default=None):
    values = query.get(key)
    return values[0] if values else default


def _page(query):
    """``(limit, offset)``: 20 by default, 100 at most, bad values fall back to defaults."""
    try:
        limit = int(_first(query, "limit", PAGE_DEFAULT))
    except ValueError:
        limit = PAGE_DEFAULT
    limit = PAGE_DEFAULT if limit < 1 else min(limit, PAGE_MAX)
    try:
        offset = max(int(_first(query, "offset", 0)), 0)
    except ValueError:
        offset = 0
    return limit, offset


def _filter_op(query, name):
    """``(op, value)`` from ``filters[name][op]=value`` or ``filters[name]=value``, else None."""
    plain = _first(query, f"filters[{name}]")
    if plain is not None:
        return "eq", plain
    for key in query:
        match = re.fullmatch(rf"filters\[{name}\]\[(\w+)\]", key)
        if match:
            return match.group(1), _first(query, key)
    return None


def _matches(op, candidate, wanted):
    """AC's filter operators. ``eq``/``neq`` are exact (case-sensitive): the strict reading."""
    low_c, low_w = candidate.lower(), wanted.lower()
    if op == "eq":
        return candidate == wanted
    if op == "neq":
        return candidate != wanted
    if op == "contains":
        return low_w in low_c
    if op == "starts_with":
        return low_c.startswith(low_w)
    if op in ("lt", "lte", "gt", "gte"):
        return {"lt": low_c < low_w, "lte": low_c <= low_w, "gt": low_c > low_w, "gte": low_c >= low_w}[op]
    raise BadRequest()


def _ids_by_field(rows):
    """``{field_id: [row ids]}`` for option or fieldRel rows."""
    ids = {}
    for row in rows:
        ids.setdefault(row["field_id"], []).append(row["id"])
    return ids


def _subscriber_missing(contact_id):
    return Reply(404, shapes.message(f"No Result found for Subscriber with id {contact_id}"))


def _deletion_limit_reached():
    """AC's answer once the account's monthly deletion cap is reached (docs/activecampaign.md §11.4)."""
    return Reply(422, shapes.errors([{
        "title": "The monthly contact deletion limit for this account has been reached", "code": "deletion_limit"}]))


def _moment(text):
    """An aware datetime from ``filters[updated_after]``, else None (and the filter is ignored).

    A date or a datetime without an offset is read in the account's
    timezone, as AC keeps its times; a client sending UTC without saying so
    is off by hours here too.
    """
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else in_account_timezone(moment)


def _list_status(text):
    """1 or 2 from ``status``; -1 (AC's "any"), absent or anything else: None."""
    status = parse_id(text)
    return status if status in (1, 2) else None


class Api:
    """The emulated endpoints, over one ``Store``."""

    def __init__(self, store, recorder, bulk, base_url, faults, events):
        self.store = store
        self.recorder = recorder
        self.bulk = bulk
        self.base = base_url
        self.faults = faults
        self.events = events  # ContactEvents: what a list status change fires
        self.schema = SchemaEndpoints(store, base_url)
        self.webhooks = WebhookEndpoints(store, _page)
        self.routes = [
            ("POST", r"/contact/sync", "/contact/sync", self.sync_contact),
            ("POST", r"/contacts", "/contacts", self.create_contact),
            ("GET", r"/contacts", "/contacts", self.list_contacts),
            ("GET", r"/contacts/(\d+)", "/contacts/{id}", self.get_contact),
            ("PUT", r"/contacts/(\d+)", "/contacts/{id}", self.update_contact),
            ("DELETE", r"/contacts/(\d+)", "/contacts/{id}", self.delete_contact),
            ("GET", r"/contacts/(\d+)/contactTags", "/contacts/{id}/contactTags", self.contact_tags),
            ("GET", r"/contacts/(\d+)/contactLists", "/contacts/{id}/contactLists", self.contact_lists),
            ("GET", r"/contacts/(\d+)/fieldValues", "/contacts/{id}/fieldValues", self.contact_field_values),
            ("GET", r"/fields", "/fields", self.list_fields),
            ("GET", r"/fields/(\d+)/options", "/fields/{id}/options", self.field_options),
            ("POST", r"/fields", "/fields", self.schema.create_field),
            ("POST", r"/fieldRels", "/fieldRels", self.schema.create_field_rel),
            ("POST", r"/fieldOption/bulk", "/fieldOption/bulk", self.schema.create_field_options),
            ("POST", r"/fieldValues", "/fieldValues", self.create_field_value),
            ("PUT", r"/fieldValues/(\d+)", "/fieldValues/{id}", self.update_field_value),
            ("GET", r"/tags", "/tags", self.list_tags),
            ("POST", r"/tags", "/tags", self.create_tag),
            ("POST", r"/contactTags", "/contactTags", self.attach_tag),
            ("DELETE", r"/contactTags/(\d+)", "/contactTags/{id}", self.detach_tag),
            ("GET", r"/lists", "/lists", self.list_lists),
            ("POST", r"/lists", "/lists", self.schema.create_list),
            ("POST", r"/listGroups", "/listGroups", self.schema.create_list_group),
            ("POST", r"/contactLists", "/contactLists", self.set_list_status),
            ("POST", r"/import/bulk_import", "/import/bulk_import", self.bulk_import),
            ("GET", r"/import/info", "/import/info", self.import_info),
            ("POST", r"/webhooks", "/webhooks", self.webhooks.create_webhook),
            ("GET", r"/webhooks", "/webhooks", self.webhooks.list_webhooks),
            ("GET", r"/webhooks/(\d+)", "/webhooks/{id}", self.webhooks.get_webhook),
            ("DELETE", r"/webhooks/(\d+)", "/webhooks/{id}", self.webhooks.delete_webhook),
            ("GET", r"/webhook/events", "/webhook/events", self.webhooks.webhook_events),
        ]

    def route(self, method, path):
        """``(template, handler, args)`` for a path below ``/api/3``, or ``(None, None, ())``."""
        path = path.rstrip("/") or "/"
        for route_method, pattern, template, handler in self.routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return template, handler, tuple(int(g) for g in match.groups())
        return None, None, ()

    def handle(self, method, path, query_string, body):
        """Answer one request; return ``(status, body)``. Applies it in one transaction."""
        template, handler, args = self.route(method, path)
        if handler is None:
            return 404, shapes.message("Not Found")
        query = urllib.parse.parse_qs(query_string, keep_blank_values=True)
        try:
            with self.store.transaction():
                return handler(query, body, *args)
        except BadRequest:
            return 400, {}
        except Reply as reply:
            return reply.status, reply.body

    # -- contacts ----------------------------------------------------------

    def _contact_payload(self, body, require_email):
        """Validated ``(email, attributes, field_values)`` from ``{"contact": {...}}``.

        Raises Reply(422) listing every problem in AC's ``errors[]`` shape.
        ``field_values`` is a list of ``(field_id, stored_value)``.
        """
        data = parse_json_object(body)
        contact = data.get("contact")
        if not isinstance(contact, dict):
            raise Reply(422, shapes.errors([shapes.attribute_error(
                "Contact data is required", "/data/attributes/contact", code="field_missing")]))
        problems = []
        for key in sorted(set(contact) - set(_CONTACT_ATTRIBUTES) - _CONTACT_IGNORED - {"email", "fieldValues"}):
            # AC may silently ignore these; refusing them catches first_name-style mix-ups (docs/activecampaign.md §10.12).
            problems.append(shapes.attribute_error(f"Unknown contact attribute '{key}'", f"/data/attributes/{key}"))
        email = contact.get("email")
        if "email" in contact or require_email:
            problem = email_problem(email)
            if problem:
                code = "field_missing" if email in (None, "") else "email_invalid"
                problems.append(shapes.attribute_error(problem, "/data/attributes/email", code=code))
        attributes = {}
        for key, column in _CONTACT_ATTRIBUTES.items():
            if key in contact:
                problem = text_problem(key, contact[key])
                if problem:
                    problems.append(shapes.attribute_error(f"{key}: {problem}", f"/data/attributes/{key}"))
                attributes[column] = contact[key] or ""  # blank or null overwrites
        field_values = self._field_values_payload(contact.get("fieldValues", []), problems)
        if problems:
            raise Reply(422, shapes.errors(problems))
        return email, attributes, field_values

    def _field_values_payload(self, items, problems):
        if not isinstance(items, list):
            problems.append(shapes.attribute_error("fieldValues must be an array", "/data/attributes/fieldValues"))
            return []
        values = []
        for index, item in enumerate(items):
            pointer = f"/data/attributes/fieldValues/{index}"
            if not isinstance(item, dict) or "field" not in item or "value" not in item:
                problems.append(shapes.attribute_error(
                    "Each field value needs a field id and a value", pointer, code="field_missing"))
                continue
            stored = self._checked_field_value(item["field"], item["value"], pointer, problems)
            if stored is not None:
                values.append(stored)
        return values

    def _checked_field_value(self, field_ref, value, pointer, problems):
        """``(field_id, stored_value)`` or None after appending the problem."""
        field_id = parse_id(field_ref)
        field = self.store.get_field(field_id) if field_id else None
        if field is None:
            problems.append(shapes.attribute_error(
                f"No field with id {field_ref!r}", f"{pointer}/field", code="related_missing"))
            return None
        problem = field_value_problem(field["type"], value, self.store.option_values(field_id))
        if problem:
            problems.append(shapes.attribute_error(f"{field['perstag']}: {problem}", f"{pointer}/value"))
            return None
        value = value or ""
        if field["type"] == "datetime" and value:
            # AC stores datetimes converted to the account's timezone (docs/activecampaign.md §4).
            value = to_account_timezone(parse_datetime(value))
        return field_id, value

    def _apply_contact(self, contact_id, attributes, field_values):
        if attributes:
            self.store.update_contact(contact_id, attributes)
        for field_id, value in field_values:
            self.store.set_field_value(contact_id, field_id, value)
        if field_values and not attributes:
            self.store.touch_contact(contact_id)

    def _contact_with_values(self, contact_id, sent_values=True):
        """The answer to a contact write; AC leaves ``fieldValues`` out when sync sent none (§11.1)."""
        values = self.store.field_values_for(contact_id)
        row = self.store.get_contact(contact_id)
        answer = {}
        if sent_values:
            answer["fieldValues"] = [shapes.field_value(v, self.base) for v in values]
        answer["contact"] = shapes.contact(row, self.base, [v["id"] for v in values])
        return answer

    def sync_contact(self, query, body):
        email, attributes, field_values = self._contact_payload(body, require_email=True)
        existing = self.store.find_contact_by_email(email)
        # Upsert by lower-cased email; the stored address keeps its first spelling.
        contact_id = existing["id"] if existing else self.store.insert_contact(email)
        self._apply_contact(contact_id, attributes, field_values)
        return (200 if existing else 201), self._contact_with_values(contact_id, sent_values=bool(field_values))

    def create_contact(self, query, body):
        email, attributes, field_values = self._contact_payload(body, require_email=True)
        if self.store.find_contact_by_email(email):
            raise Reply(422, shapes.errors([shapes.attribute_error(
                "Email address already exists in the system", "/data/attributes/email", code="duplicate")]))
        contact_id = self.store.insert_contact(email)
        self._apply_contact(contact_id, attributes, field_values)
        return 201, self._contact_with_values(contact_id)

    def update_contact(self, query, body, contact_id):
        if self.store.get_contact(contact_id) is None:
            raise _subscriber_missing(contact_id)
        email, attributes, field_values = self._contact_payload(body, require_email=False)
        if email is not None:
            other = self.store.find_contact_by_email(email)
            if other and other["id"] != contact_id:
                raise Reply(422, shapes.errors([shapes.attribute_error(
                    "Email address already exists in the system", "/data/attributes/email", code="duplicate")]))
            attributes["email"] = email
        self._apply_contact(contact_id, attributes, field_values)
        return 200, self._contact_with_values(contact_id)

    def list_contacts(self, query, body):
        """``email``, ``email_like``, and the pull's filters: ``listid``, ``status``, ``filters[updated_after]``.

        With ``listid``, ``status`` and ``updated_after`` apply to the
        membership of that list: its status, and the time that status last
        changed, compared strictly after (AC does not document what
        ``updated_after`` compares; this is the narrowest reading). Without
        ``listid``, ``status`` is ignored and ``updated_after`` compares the
        contact's ``udate``. A bad value ignores its filter, as AC ignores what
        it does not apply (§11.1).
        """
        limit, offset = _page(query)
        rows, total = self.store.list_contacts(
            email=_first(query, "email"), email_like=_first(query, "email_like"),
            listid=parse_id(_first(query, "listid")), status=_list_status(_first(query, "status")),
            updated_after=_moment(_first(query, "filters[updated_after]")), limit=limit, offset=offset)
        return 200, {"scoreValues": [], "contacts": [shapes.contact(r, self.base) for r in rows],
                     "meta": shapes.meta(total)}

    def get_contact(self, query, body, contact_id):
        row = self.store.get_contact(contact_id)
        if row is None:
            raise _subscriber_missing(contact_id)
        values = self.store.field_values_for(contact_id)
        return 200, {
            "contactAutomations": [],
            "contactData": [],
            "contactLists": [shapes.contact_list(m, self.base) for m in self.store.contact_lists_for(contact_id)],
            "deals": [],
            "fieldValues": [shapes.field_value(v, self.base) for v in values],
            "geoAddresses": [],
            "geoIps": [],
            "contact": shapes.contact(row, self.base, [v["id"] for v in values]),
        }

    def delete_contact(self, query, body, contact_id):
        """200 ``{}``; 404 for a missing contact; 422 once ``deletion_limit`` deletions were made this month."""
        if self.store.get_contact(contact_id) is None:
            raise Reply(404, shapes.message(f"No result found for contact with id {contact_id}"))
        limit = self.faults.get("deletion_limit")
        if limit is not None and self.store.deletions_this_month() >= limit:
            raise _deletion_limit_reached()
        self.store.delete_contact(contact_id)
        return 200, {}

    def _contact_page(self, query, contact_id, key, rows, shape):
        """A contact's sub-collection, paged like every other collection."""
        if self.store.get_contact(contact_id) is None:
            raise _subscriber_missing(contact_id)
        limit, offset = _page(query)
        page = rows[offset:offset + limit]
        return 200, {key: [shape(r, self.base) for r in page], "meta": shapes.meta(len(rows))}

    def contact_tags(self, query, body, contact_id):
        return self._contact_page(query, contact_id, "contactTags",
                                  self.store.contact_tags_for(contact_id), shapes.contact_tag)

    def contact_lists(self, query, body, contact_id):
        return self._contact_page(query, contact_id, "contactLists",
                                  self.store.contact_lists_for(contact_id), shapes.contact_list)

    def contact_field_values(self, query, body, contact_id):
        return self._contact_page(query, contact_id, "fieldValues",
                                  self.store.field_values_for(contact_id), shapes.field_value)

    # -- custom fields -----------------------------------------------------

    def list_fields(self, query, body):
        limit, offset = _page(query)
        rows, total = self.store.list_fields(perstag=_first(query, "filters[perstag]"), limit=limit, offset=offset)
        field_ids = [r["id"] for r in rows]
        options = self.store.field_options(field_ids) if rows else []
        rels = self.store.field_rels(field_ids) if rows else []
        options_of, rels_of = _ids_by_field(options), _ids_by_field(rels)
        return 200, {
            "fieldOptions": [shapes.field_option(o, self.base) for o in options],
            "fieldRels": [shapes.field_rel(r) for r in rels],
            "fields": [shapes.field(r, options_of.get(r["id"], []), rels_of.get(r["id"], []), self.base)
                       for r in rows],
            "meta": shapes.meta(total),
        }

    def field_options(self, query, body, field_id):
        if self.store.get_field(field_id) is None:
            raise Reply(404, shapes.message(f"No Result found for Field with id {field_id}"))
        options = self.store.field_options([field_id])
        return 200, {"fieldOptions": [shapes.field_option(o, self.base) for o in options],
                     "meta": shapes.meta(len(options))}

    def _field_value_body(self, body):
        data = parse_json_object(body)
        item = data.get("fieldValue")
        if not isinstance(item, dict):
            raise Reply(422, shapes.errors([shapes.attribute_error(
                "fieldValue is required", "/data/attributes/fieldValue", code="field_missing")]))
        if "value" not in item:
            raise Reply(422, shapes.errors([shapes.attribute_error(
                "Missing attribute", "/data/attributes/value", code="field_missing")]))
        return item

    def _store_field_value(self, contact_id, field_ref, value):
        problems = []
        checked = self._checked_field_value(field_ref, value, "/data/attributes", problems)
        if problems:
            raise Reply(422, shapes.errors(problems))
        row = self.store.set_field_value(contact_id, *checked)
        self.store.touch_contact(contact_id)
        return 200, {"contacts": [shapes.contact(self.store.get_contact(contact_id), self.base)],
                     "fieldValue": shapes.field_value(row, self.base)}

    def create_field_value(self, query, body):
        item = self._field_value_body(body)
        contact_id = parse_id(item.get("contact"))
        if contact_id is None or "field" not in item:
            raise Reply(422, shapes.errors([shapes.attribute_error(
                "Missing attribute", "/data/attributes/contact" if contact_id is None else "/data/attributes/field",
                code="field_missing")]))
        if self.store.get_contact(contact_id) is None:
            raise _subscriber_missing(contact_id)
        # POST on a (contact, field) that already has a value overwrites it.
        return self._store_field_value(contact_id, item["field"], item["value"])

    def update_field_value(self, query, body, field_value_id):
        existing = self.store.get_field_value(field_value_id)
        if existing is None:
            raise Reply(404, shapes.message(f"No Result found for FieldValue with id {field_value_id}"))
        item = self._field_value_body(body)
        for key, column in (("contact", "contact_id"), ("field", "field_id")):
            if key in item and parse_id(item[key]) != existing[column]:
                raise Reply(422, shapes.errors([shapes.attribute_error(
                    f"{key} does not match field value {field_value_id}", f"/data/attributes/{key}")]))
        return self._store_field_value(existing["contact_id"], existing["field_id"], item["value"])

    # -- tags --------------------------------------------------------------

    def list_tags(self, query, body):
        tags = self.store.all_tags()
        search = _first(query, "search")
        if search is not None:  # contains, case-insensitive (docs/activecampaign.md §5)
            tags = [t for t in tags if search.lower() in t["tag"].lower()]
        condition = _filter_op(query, "search")
        if condition:
            tags = [t for t in tags if _matches(condition[0], t["tag"], condition[1])]
        if _first(query, "orders[search]") == "weight" and (search or condition):
            wanted = (search if search is not None else condition[1]).lower()
            tags.sort(key=lambda t: t["tag"].lower() != wanted)  # exact matches first, stable
        limit, offset = _page(query)
        return 200, {"tags": [shapes.tag(t, self.base) for t in tags[offset:offset + limit]],
                     "meta": shapes.meta(len(tags))}

    def create_tag(self, query, body):
        data = parse_json_object(body)
        item = data.get("tag")
        name = item.get("tag") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise Reply(422, shapes.errors([shapes.attribute_error(
                "Tag name is required", "/data/attributes/tag", code="field_missing")]))
        problem = text_problem("tag", name)
        if "," in name:
            # AC refuses it (§11.3), and webhooks send a contact's tags as one comma-separated string.
            problem = "Tag names may not contain a comma"
        tag_type = item.get("tagType", "contact")
        if problem or tag_type not in ("contact", "template"):
            raise Reply(422, shapes.errors([shapes.attribute_error(
                problem or "tagType must be contact or template", "/data/attributes/tag")]))
        if self.store.find_tag_ci(name):
            # The body AC was seen to send (verbb/formie#1389); compared case-insensitively.
            raise Reply(422, {"message": "Could not process request",
                              "error": f"Duplicate entry '{tag_type}-{name}' for key 'typetag'"})
        description = item.get("description") or ""
        return 201, {"tag": shapes.tag(self.store.insert_tag(name, tag_type, description), self.base)}

    def attach_tag(self, query, body):
        data = parse_json_object(body)
        item = data.get("contactTag") if isinstance(data.get("contactTag"), dict) else {}
        ids = {}
        for key in ("contact", "tag"):
            ids[key] = parse_id(item.get(key))
            if ids[key] is None:
                raise Reply(422, shapes.status_error(422, "Missing attribute", pointer=f"/data/attributes/{key}"))
        if self.store.get_contact(ids["contact"]) is None:
            raise Reply(404, shapes.status_error(404, "Not Found", "Contact not found"))
        if self.store.get_tag(ids["tag"]) is None:
            raise Reply(404, shapes.status_error(404, "Not Found", "Tag not found"))
        existing = self.store.find_contact_tag(ids["contact"], ids["tag"])
        if existing:
            # AC answers 200 with the row it already has (§11.1); the stats still
            # count it, so a test can check a client did not ask twice.
            self.recorder.duplicate_tag_attach()
            return 200, {"contactTag": shapes.contact_tag(existing, self.base)}
        row = self.store.insert_contact_tag(ids["contact"], ids["tag"])
        self.store.touch_contact(ids["contact"])
        return 201, {"contactTag": shapes.contact_tag(row, self.base)}

    def detach_tag(self, query, body, contact_tag_id):
        row = self.store.get_contact_tag(contact_tag_id)
        if row is None:
            raise Reply(404, shapes.message(f"No Result found for SubscriberTag with id {contact_tag_id}"))
        self.store.delete_contact_tag(contact_tag_id)
        self.store.touch_contact(row["contact_id"])
        return 200, {}

    # -- lists -------------------------------------------------------------

    def list_lists(self, query, body):
        lists = self.store.all_lists()
        condition = _filter_op(query, "name")
        if condition:
            op, wanted = condition
            # A bare filters[name] matches by contains here: the strict reading,
            # since it also returns lookalike lists (docs/activecampaign.md §6, §9).
            if _first(query, "filters[name]") is not None:
                op = "contains"
            lists = [l for l in lists if _matches(op, l["name"], wanted)]
        limit, offset = _page(query)
        return 200, {"lists": [shapes.mailing_list(l, self.base) for l in lists[offset:offset + limit]],
                     "meta": shapes.meta(len(lists))}

    def set_list_status(self, query, body):
        data = parse_json_object(body)
        item = data.get("contactList") if isinstance(data.get("contactList"), dict) else {}
        problems = []
        ids = {}
        for key in ("contact", "list"):
            ids[key] = parse_id(item.get(key))
            if ids[key] is None:
                problems.append(shapes.attribute_error(
                    f"The {key} id is required", f"/data/attributes/{key}", code="field_missing"))
        status = parse_id(item.get("status"))
        if status not in (1, 2):
            problems.append(shapes.attribute_error("status must be 1 (subscribe) or 2 (unsubscribe)",
                                                   "/data/attributes/status"))
        if problems:
            raise Reply(422, shapes.errors(problems))
        if self.store.get_contact(ids["contact"]) is None:
            raise _subscriber_missing(ids["contact"])
        if self.store.get_list(ids["list"]) is None:
            raise Reply(404, shapes.message(f"No Result found for List with id {ids['list']}"))
        row = self.store.find_contact_list(ids["contact"], ids["list"])
        if row is None or row["status"] != status:
            # A membership with the same status is left as it is: AC answers
            # with the existing row, its sdate unchanged (§11.1).
            sourceid = parse_id(item.get("sourceid")) or 0
            row = self.store.set_contact_list(ids["contact"], ids["list"], status, sourceid)
            self.store.touch_contact(ids["contact"])
            self.events.list_status_changed_by_api(row)
        return 200, {"contacts": [shapes.contact(self.store.get_contact(ids["contact"]), self.base)],
                     "contactList": shapes.contact_list(row, self.base, status_as_number=True)}

    # -- bulk import (logic in bulk_import.py) -----------------------------

    def bulk_import(self, query, body):
        return self.bulk.enqueue(body)

    def import_info(self, query, body):
        return self.bulk.info(_first(query, "batchId"))
