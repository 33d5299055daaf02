"""``POST /import/bulk_import`` and ``GET /import/info`` (docs/activecampaign.md §7, §11.1).

A valid request is queued, not applied; the contacts are written only once
the processing delay has passed (``bulk_delay_seconds +
bulk_seconds_per_contact * N`` from the fault config). Until then
``/import/info`` answers as AC does, so a client meets every word AC uses:

1. the batch's first ``import/info`` answers ``{"status": false}`` (AC's
   answer in the first moments after queueing);
2. then ``waiting`` during the first half of the delay, ``active`` after;
3. then the final status: ``completed`` (with ``success`` contact ids and
   ``failure`` emails), ``failed`` (nothing written) or ``interrupted`` (the
   first half of the rows written), as the ``bulk_outcome`` fault said when
   the batch was queued; with ``never`` it stays ``active``.

One invalid row rejects the whole request with 400 and ``failureReasons`` by
index.

A request is checked against the account's fields, options and lists read
once for it, and a batch written with the tags and field types read once for
it (``_Account``): the answers are the same as reading them for every row,
and the sandbox keeps up with a client at the importer's 100 requests a
minute.
"""

import json
import time
import uuid

from . import shapes
from .limits import ASSUMED_LIMITS, BULK_MAX_BYTES, BULK_MAX_CONTACTS
from .rate_limit import SlidingWindow
from .store import PENDING, now_text, to_account_timezone
from .validation import email_problem, field_value_problem, parse_datetime, parse_id, text_problem

_NOT_VALID = ("JSON payload did not pass validation. Please fix failure Reasons and retry. "
              "The import was not queued for processing.")
_ROW_KEYS = {"email", "first_name", "last_name", "phone", "customer_acct_name", "exclude_automations",
             "tags", "fields", "subscribe", "unsubscribe"}
_ROW_TEXT = {"first_name": "firstName", "last_name": "lastName", "phone": "phone", "customer_acct_name": "text"}


class BulkImporter:
    """Validates, queues and later applies bulk imports against a ``Store``."""

    def __init__(self, store, faults):
        self.store = store
        self.faults = faults
        self.multi_window = SlidingWindow(60)
        self.single_window = SlidingWindow(60)

    def clear(self):
        self.multi_window.clear()
        self.single_window.clear()

    def enqueue(self, body):
        """Answer a bulk_import request; call inside a store transaction."""
        if len(body) >= BULK_MAX_BYTES:
            return 400, shapes.bulk_failure(_NOT_VALID, [f"Payload must be under {BULK_MAX_BYTES} bytes."])
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return 400, shapes.bulk_failure(_NOT_VALID, ["The request body is not valid JSON."])
        contacts = data.get("contacts") if isinstance(data, dict) else None
        if not isinstance(contacts, list) or not contacts:
            return 400, shapes.bulk_failure(_NOT_VALID, ["'contacts' must be a non-empty array."])
        limited = self._rate_limited(single=len(contacts) == 1)
        if limited:
            return 400, limited
        if len(contacts) > BULK_MAX_CONTACTS:
            return 400, shapes.bulk_failure(
                _NOT_VALID, [f"Too many contacts: at most {BULK_MAX_CONTACTS} may be imported per request."])
        reasons = []
        account = _Account(self.store)
        for index, row in enumerate(contacts):
            reasons.extend({"contact": index, "failureReason": r} for r in self._row_problems(row, account))
        if reasons:
            return 400, shapes.bulk_failure(_NOT_VALID, reasons)
        config = self.faults.snapshot()
        delay = config["bulk_delay_seconds"] + config["bulk_seconds_per_contact"] * len(contacts)
        batch_id = str(uuid.uuid4())
        now = time.time()
        self.store.insert_batch(batch_id, contacts, now, now + delay, config["bulk_outcome"])
        return 200, {"Success": 1, "queued_contacts": len(contacts), "batchId": batch_id,
                     "message": "Contact import queued"}

    def _rate_limited(self, single):
        """The 400 body if this request is over its per-minute budget, else None.

        Every request counts, refused ones included: AC does not say, and this
        is the strict reading (a client must really wait a minute).
        """
        if single:
            if self.single_window.record_and_check(self.faults.get("bulk_single_per_minute")):
                return None
            reason = ("Up to 20 single-contact imports may be requested per minute. "
                      "Please use the contact API, or retry this request in a minute.")
        else:
            if self.multi_window.record_and_check(self.faults.get("bulk_multi_per_minute")):
                return None
            reason = ("Up to 100 imports may be requested per minute.Please batch contacts into larger "
                      "requests, or retry this request in a minute.")
        return shapes.bulk_failure("Rate limit exceeded.", [reason])

    def _row_problems(self, row, account):
        """Every reason this row cannot be imported (empty if it can)."""
        if not isinstance(row, dict):
            return ["Contact must be an object"]
        problems = [f"Unknown field '{key}'" for key in sorted(set(row) - _ROW_KEYS)]
        problem = email_problem(row.get("email"))
        if problem:
            problems.append(f"Field 'email' incorrect format: {problem}")
        for key, limit_key in _ROW_TEXT.items():
            if key in row:
                problem = text_problem(limit_key, row[key])
                if problem:
                    problems.append(f"Field '{key}': {problem}")
        if "exclude_automations" in row and not isinstance(row["exclude_automations"], bool):
            problems.append("Field 'exclude_automations' must be true or false")
        tags = row.get("tags", [])
        if not isinstance(tags, list) or any(
                not isinstance(t, str) or not t.strip() or len(t) > ASSUMED_LIMITS["tag"] for t in tags):
            problems.append("Field 'tags' must be an array of tag names")
        elif any("," in t for t in tags):
            # POST /tags refuses a comma (§11.3); the importer is held to the same rule.
            problems.append("Field 'tags': a tag name may not contain a comma")
        problems.extend(self._fields_problems(row.get("fields", []), account))
        for key in ("subscribe", "unsubscribe"):
            items = row.get(key, [])
            if not isinstance(items, list) or any(not isinstance(i, dict) for i in items):
                problems.append(f"Field '{key}' must be an array of {{listid}} objects")
                continue
            for item in items:
                list_id = parse_id(item.get("listid"))
                if list_id is None or not account.has_list(list_id):
                    problems.append(f"Field '{key}': no list with id {item.get('listid')!r}")
        return problems

    def _fields_problems(self, fields, account):
        if not isinstance(fields, list) or any(not isinstance(f, dict) for f in fields):
            return ["Field 'fields' must be an array of {id, value} objects"]
        problems = []
        for item in fields:
            field_id = parse_id(item.get("id"))
            field = account.field(field_id) if field_id else None
            if field is None:
                problems.append(f"Field 'fields': no custom field with id {item.get('id')!r}")
                continue
            if "value" not in item:
                problems.append(f"Field 'fields': no value for field {field_id}")
                continue
            problem = field_value_problem(field["type"], item["value"], account.option_values(field_id))
            if problem:
                problems.append(f"Field 'fields' ({field['perstag']}): {problem}")
        return problems

    def info(self, batch_id):
        """Answer ``GET /import/info``; call inside a store transaction."""
        if not batch_id:
            return 400, {"success": 0, "message": "'batchId' is a required field."}
        self._process_due()
        row = self.store.get_batch(batch_id)
        if row is None:
            return 404, shapes.message(f"No Result found for import batch {batch_id}")
        if row["status"] != PENDING:
            return 200, {"status": row["status"], "success": json.loads(row["success"]),
                         "failure": json.loads(row["failure"])}
        if not row["info_seen"]:
            self.store.mark_batch_seen(batch_id)
            return 200, {"status": False}
        halfway = row["queued_at"] + (row["due_at"] - row["queued_at"]) / 2
        return 200, {"status": "waiting" if time.time() < halfway else "active"}

    def process_due(self):
        """Apply every queued batch whose delay has passed, in its own transaction."""
        with self.store.transaction():
            self._process_due()

    def _process_due(self):
        for batch in self.store.due_batches(time.time()):
            rows = json.loads(batch["contacts"])
            if batch["outcome"] == "failed":
                self.store.finish_batch(batch["id"], "failed", [], [])
            elif batch["outcome"] == "interrupted":
                self.store.finish_batch(batch["id"], "interrupted", *self._import_rows(rows[:len(rows) // 2]))
            else:
                self.store.finish_batch(batch["id"], "completed", *self._import_rows(rows))

    def _import_rows(self, rows):
        """Write ``rows`` but those ``bulk_fail_emails`` refuses; ``(contact ids, refused emails)``."""
        refused = set(self.faults.get("bulk_fail_emails"))
        account, now = _Account(self.store), now_text()
        success = [str(self._import_row(row, account, now)) for row in rows if row["email"].lower() not in refused]
        failure = [row["email"] for row in rows if row["email"].lower() in refused]
        return success, failure

    def _import_row(self, row, account, now):
        """Write one validated row; return the contact id."""
        existing = self.store.find_contact_by_email(row["email"])
        contact_id = existing["id"] if existing else self.store.insert_contact(row["email"])
        attributes = {key: row[key] or "" for key in ("first_name", "last_name", "phone") if key in row}
        # Automations run unless excluded (docs/activecampaign.md §7); the dump shows which it was.
        attributes["automations_excluded"] = int(bool(row.get("exclude_automations", False)))
        self.store.update_contact(contact_id, attributes)
        values = {}
        for item in row.get("fields", []):
            field_id = parse_id(item["id"])
            value = item["value"] or ""
            if value and account.field(field_id)["type"] == "datetime":
                value = to_account_timezone(parse_datetime(value))
            values[field_id] = value
        self.store.set_field_values(contact_id, values, now)
        self.store.attach_tags(contact_id, [account.tag_id(name) for name in row.get("tags", [])], now)
        for item in row.get("subscribe", []):
            list_id = parse_id(item["listid"])
            membership = self.store.find_contact_list(contact_id, list_id)
            # The importer never re-subscribes someone who unsubscribed (docs/activecampaign.md §7).
            if membership is None or membership["status"] != 2:
                self.store.set_contact_list(contact_id, list_id, 1)
        for item in row.get("unsubscribe", []):
            self.store.set_contact_list(contact_id, parse_id(item["listid"]), 2)
        return contact_id


class _Account:
    """The account's fields, options, lists and tags as one request or batch
    needs them, each read once (inside the caller's store transaction)."""

    def __init__(self, store):
        self.store = store
        self._fields = {}
        self._options = {}
        self._lists = {}
        self._tags = {}

    def field(self, field_id):
        if field_id not in self._fields:
            self._fields[field_id] = self.store.get_field(field_id)
        return self._fields[field_id]

    def option_values(self, field_id):
        if field_id not in self._options:
            self._options[field_id] = self.store.option_values(field_id)
        return self._options[field_id]

    def has_list(self, list_id):
        if list_id not in self._lists:
            self._lists[list_id] = self.store.get_list(list_id) is not None
        return self._lists[list_id]

    def tag_id(self, name):
        """The id of the tag ``name`` (case-insensitive), created if the account has none."""
        key = name.lower()
        if key not in self._tags:
            tag = self.store.find_tag_ci(name) or self.store.insert_tag(name, "contact", "")
            self._tags[key] = tag["id"]
        return self._tags[key]
