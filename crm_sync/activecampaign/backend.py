"""ActiveCampaign as a CRM backend (the `crm_sync.crm.CrmBackend` protocol):
the live sync's operations and the bulk importer's (docs/activecampaign.md §7), with AC's
quirks handled here and nowhere else.

It is given a client and a catalog (`catalog.AccountCatalog`) and keeps no
state of its own beyond them, but for the ids of the bulk rows it has built.
The quirks are documented in docs/activecampaign.md.
"""
import datetime
import json
import re
from urllib.parse import urlsplit

from ..crm import BulkLimits, ImportReport, Upserted
from ..errors import (
    BadResponse,
    BulkRateLimited,
    ConfigurationError,
    Conflict,
    ContactGone,
    NotFound,
    RowsRejected,
    ValidationFailed,
)
from .catalog import CHOICE_TYPES, FIELD, TAG, option_value
from .client import is_loopback, summarize_errors
from .payloads import (
    BULK_MAX_CONTACTS,
    SUBSCRIBED,
    UNSUBSCRIBED,
    bulk_contact,
    bulk_import_body,
    bulk_request_fits,
    contact_body,
    contact_list_body,
    contact_tag_body,
    row_size,
    webhook_body,
)

BULK_IMPORT_PATH = "/import/bulk_import"
IMPORT_INFO_PATH = "/import/info"
IMPORT_ABORTED = {"failed", "interrupted"}   # import/info's final words for a batch not (all) imported
IMPORTER_BUSY_WAIT = 60.0     # after "Rate limit exceeded." (400): AC's only hint is "in a minute"
PAGE = 100                    # AC's largest page (docs/activecampaign.md §9)


class ActiveCampaignBackend:
    name = "AC"
    # The importer's own limits (docs/activecampaign.md §7), apart from the 5 requests per
    # second; its minute counted as 61 s, for requests that arrive late.
    bulk_limits = BulkLimits(max_rows=BULK_MAX_CONTACTS, multi_row_requests=100, single_row_requests=20, window=61.0)

    def __init__(self, client, catalog, list_stringid, *, account_url=""):
        """`client` None: a backend that never contacts AC (the dry run's,
        with a `catalog.StoredIds`); only the bulk rows and sizes work."""
        self.client = client
        self.catalog = catalog
        self.list_stringid = list_stringid
        self.account_url = account_url
        self._bulk_field_ids = {}
        self._bulk_list_id = None

    def close(self):
        if self.client is not None:
            self.client.close()

    # -- values as the account holds them ------------------------------------
    def fit(self, payload):
        """Turn every choice in `payload`'s option fields (checkbox, listbox,
        dropdown, radio in the account) into the option value the account
        holds for it. AC stores a value matching no option without a word
        (docs/activecampaign.md §11), so a choice the account lacks is left
        out with a warning instead; the field's other choices still go."""
        if not payload.fields:
            return
        fields = self.catalog.fields(payload.fields)
        for perstag, value in list(payload.fields.items()):
            field = fields.get(perstag) or {}
            if field.get("type") not in CHOICE_TYPES:
                continue
            choices = [part for part in value.split("||") if part] if value.startswith("||") else [value]
            values = []
            for choice in choices:
                held = option_value(choice, field.get("options") or [])
                if held is None:
                    payload.warnings.append(f"{perstag}: {choice!r} is not an option of the account's field, not sent")
                elif held not in values:
                    values.append(held)
            if not values:
                del payload.fields[perstag]
            elif field["type"] in ("checkbox", "listbox"):
                payload.fields[perstag] = "||" + "||".join(values) + "||"
            else:
                payload.fields[perstag] = values[0]

    # -- contacts ------------------------------------------------------------
    def upsert_contact(self, payload, *, contact_id="", previous_email=""):
        """Create or update the contact with every value of `payload` in one
        call. Returns Upserted."""
        try:
            return self._upsert_once(payload, contact_id, previous_email)
        except ValidationFailed as error:
            # A stored field id AC no longer knows: read the fields again once.
            if self.catalog.fields_fresh or "field" not in str(error).lower():
                raise
            self.catalog.forget_fields()
            return self._upsert_once(payload, contact_id, previous_email)

    def _upsert_once(self, payload, contact_id, previous_email):
        body = contact_body(payload, self.catalog.field_ids(payload.fields))
        email_changed = bool(previous_email) and previous_email != payload.email
        if email_changed and not contact_id:
            # Imported in bulk: AC gave no id. Find the contact by the email it has.
            contact_id = self.find_contact(previous_email)
        if email_changed and contact_id:
            # contact/sync matches on email, so it would make a second
            # contact; update ours by id instead.
            try:
                answer = self.client.request("PUT", f"/contacts/{contact_id}", json_body=body)
                return Upserted(self._contact_id(answer), created=False)
            except NotFound:
                contact_id = ""  # deleted in AC: contact/sync creates it again
            except ValidationFailed as error:
                if "exist" in str(error).lower() or "duplicate" in str(error).lower():
                    raise Conflict(
                        f"{payload.email} already belongs to another AC contact; nothing was merged "
                        f"(AC said: {error})", status=error.status, body=error.body,
                    ) from error
                raise
        answer = self.client.request("POST", "/contact/sync", json_body=body)
        return Upserted(self._contact_id(answer), created=answer.status == 201 and not contact_id)

    @staticmethod
    def _contact_id(answer):
        try:
            return str(answer.body["contact"]["id"])
        except (KeyError, TypeError) as error:
            raise BadResponse(f"AC's answer to the contact update has no contact id: {str(answer.body)[:200]}",
                              status=answer.status) from error

    def find_contact(self, email):
        """The id of the contact AC holds under `email`, or "". Only a
        contact whose email is the one asked for counts: a filter AC does not
        apply returns the account's contacts unfiltered (docs/activecampaign.md §11)."""
        wanted = email.strip().lower()
        for contact in self.client.get("/contacts", email=email).get("contacts") or []:
            if str(contact.get("email") or "").strip().lower() == wanted:
                return str(contact["id"])
        return ""

    # -- subject access -----------------------------------------------------------
    def erase(self, contact_id):
        """Delete the contact: True if AC deleted it now, False if AC no
        longer had it (counts as erased). AC caps deletions per month
        (docs/activecampaign.md §11.4): once the cap is reached its 422 is a
        ConfigurationError, since only raising the cap (or a new month) helps."""
        try:
            self.client.request("DELETE", f"/contacts/{contact_id}")
        except NotFound:
            return False
        except ValidationFailed as error:
            if _deletion_limit_reached(error.body):
                raise ConfigurationError(DELETION_LIMIT_REACHED, status=error.status, body=error.body) from error
            raise
        return True

    def contact_snapshot(self, contact_id):
        """The contact, its custom field values (by perstag), its tags (by
        name) and its list memberships, as AC holds them now (the
        `crm.CrmBackend` protocol). Four paged reads, plus the account's
        fields, tags and lists where the catalog does not name them.
        Raises NotFound when AC has no such contact."""
        contact = self.client.get(f"/contacts/{contact_id}").get("contact") or {}
        values = self.client.get_all(f"/contacts/{contact_id}/fieldValues", "fieldValues")["fieldValues"]
        tags = self.client.get_all(f"/contacts/{contact_id}/contactTags", "contactTags")["contactTags"]
        lists = self.client.get_all(f"/contacts/{contact_id}/contactLists", "contactLists")["contactLists"]
        return {
            "contact": {key: value for key, value in contact.items() if key not in CONTACT_KEYS_NOT_DATA},
            "field_values": self._named_values(values),
            "tags": self._named_tags(tags),
            "lists": self._named_lists(lists) if lists else [],
        }

    def _named_values(self, values):
        fields = self._fields_by_id()
        if any(str(value.get("field")) not in fields for value in values) and not self.catalog.fields_fresh:
            self.catalog.refresh_fields()  # a field crm_sync never looked up: read the account's fields once
            fields = self._fields_by_id()
        named = []
        for value in values:
            perstag, title = fields.get(str(value.get("field")), ("", ""))
            named.append({"field": str(value.get("field")), "perstag": perstag, "title": title,
                          "value": value.get("value")})
        return sorted(named, key=lambda item: (item["perstag"] or "~", item["field"]))

    def _fields_by_id(self):
        """{field id: (perstag, title)} for every field the catalog holds."""
        store = self.catalog.store
        stored = store.get_many(FIELD, list(store.ids(FIELD)))
        return {str(info["id"]): (perstag, info.get("title") or "") for perstag, info in stored.items()}

    def _named_tags(self, contact_tags):
        """The catalog knows the tags crm_sync uses (by lower-cased name);
        any other tag's name is read from AC (`GET /tags/{id}`), or left
        empty when AC no longer has it."""
        known = {str(tag_id): name for name, tag_id in self.catalog.store.ids(TAG).items()}
        named = []
        for item in contact_tags:
            tag_id = str(item.get("tag"))
            name = known.get(tag_id)
            if name is None:
                try:
                    name = str((self.client.get(f"/tags/{tag_id}").get("tag") or {}).get("tag") or "")
                except NotFound:
                    name = ""
            named.append({"id": tag_id, "name": name})
        return sorted(named, key=lambda tag: (tag["name"].lower(), tag["id"]))

    def _named_lists(self, memberships):
        lists = {str(item.get("id")): item for item in self.client.get_all("/lists", "lists")["lists"]}
        named = []
        for membership in memberships:
            list_id = str(membership.get("list"))
            info = lists.get(list_id) or {}
            status = str(membership.get("status") or "")
            named.append({"id": list_id, "stringid": info.get("stringid") or "", "name": info.get("name") or "",
                          "status": int(status) if status.isdigit() else status})
        return named

    # -- tags ------------------------------------------------------------------
    def tags_of(self, contact_id, names):
        """Those of `names` the contact already has (one paged read)."""
        attached = {
            str(item.get("tag"))
            for item in self.client.get_all(f"/contacts/{contact_id}/contactTags", "contactTags")["contactTags"]
        }
        return [name for name in names if self.catalog.tag_id(name) in attached]

    def add_tag(self, contact_id, name):
        """Attach one tag, creating it in the account if needed."""
        for first_try in (True, False):
            tag_id = self.catalog.tag_id(name)
            try:
                self.client.post("/contactTags", contact_tag_body(contact_id, tag_id))
                return
            except NotFound as error:
                if not first_try:
                    raise ContactGone(f"AC contact {contact_id} no longer exists; it will be created again",
                                      status=error.status, body=error.body) from error
                self.catalog.forget_tag(name)  # the tag was deleted in AC: look it up again
            except ValidationFailed as error:
                # AC's answer to a tag the contact already has varies: take
                # "already there" as done.
                text = str(error).lower()
                if "already" in text or "duplicate" in text or "exists" in text:
                    return
                raise

    # -- the list --------------------------------------------------------------
    def set_list_status(self, contact_id, status, *, resubscribe=False):
        """Subscribe (1) or unsubscribe (2) the contact on the configured list.
        `resubscribe`: they were unsubscribed before, which AC accepts only
        with a source id saying so."""
        self.client.post("/contactLists", contact_list_body(
            self.list_id(), contact_id, status, resubscribe=resubscribe and status == SUBSCRIBED))

    # -- what comes back: list status, changes, webhooks -----------------------
    def list_id(self):
        """The id, in the account, of our list (`CRM_SYNC["LIST_STRINGID"]`)."""
        return str(self.catalog.list_id(self.list_stringid))

    def list_status(self, contact_id):
        """The contact's status on our list as AC holds it now: 1 subscribed,
        2 unsubscribed (AC's other values, 0 unconfirmed and 3 bounced, come
        back as they are), None when the contact is not on the list. Raises
        NotFound when AC has no such contact. One read of its memberships
        (`GET /contacts/{id}/contactLists`, docs/activecampaign.md §6)."""
        list_id = self.list_id()
        memberships = self.client.get_all(f"/contacts/{contact_id}/contactLists", "contactLists")["contactLists"]
        for membership in memberships:
            if str(membership.get("list")) == list_id:
                return _list_status(membership, contact_id)
        return None

    def changed_list_members(self, since):
        """The contacts on our list whose status changed after `since` (an
        aware datetime), unsubscribed ones first, each a dict: `contact_id`,
        `email`, `status` (1 or 2), `changed_at` (aware) and `list_id`.

        `GET /contacts?listid=…&status=…&filters[updated_after]=…` for each
        status (docs/activecampaign.md §3.3). AC keeps no time of a list change that this
        query returns, so `changed_at` is the contact's `udate`: the status
        change or anything changed on the contact since. AC documents
        `updated_after` as a date and ignores a filter it does not apply
        (§11.1), so contacts it returns from before `since` are dropped here."""
        list_id = self.list_id()
        floor = since.replace(microsecond=0)  # AC's times have whole seconds
        for status in (UNSUBSCRIBED, SUBSCRIBED):
            query = {"listid": list_id, "status": status, "filters[updated_after]": floor.isoformat()}
            seen = set()
            for contact in self._contacts_by_id(query):
                contact_id = str(contact.get("id") or "")
                changed_at = _aware_time(contact.get("udate"), contact_id)
                if not contact_id or contact_id in seen or changed_at < floor:
                    continue
                seen.add(contact_id)
                yield {"contact_id": contact_id, "email": str(contact.get("email") or ""), "status": status,
                       "changed_at": changed_at, "list_id": list_id}

    def _contacts_by_id(self, query):
        """Every contact a `/contacts` query finds, paged by id
        (`orders[id]=ASC`, `id_greater`) as AC advises for contacts (docs/activecampaign.md §9):
        with offsets, a contact leaving the results while we page would shift
        another one past us. If AC ignores `id_greater` (a page starts at or
        below the last id seen), the rest is paged by offset."""
        after, offset, by_offset = 0, 0, False
        while True:
            params = {**query, "orders[id]": "ASC", "limit": PAGE}
            if by_offset:
                params["offset"] = offset
            elif after:
                params["id_greater"] = after
            contacts = self.client.get("/contacts", **params).get("contacts") or []
            if not by_offset and after and any(_number(contact) <= after for contact in contacts):
                by_offset = True
                continue
            yield from contacts
            offset += len(contacts)
            if len(contacts) < PAGE:
                return
            after = max([after] + [_number(contact) for contact in contacts])

    def webhooks(self):
        """Every webhook registered in the account, each a dict: `id`,
        `name`, `url` (which holds the receiver's token: never show it as
        is), `events`, `sources` and `list_id` (docs/activecampaign.md §8)."""
        return [_webhook(item) for item in self.client.get_all("/webhooks", "webhooks")["webhooks"]]

    def add_webhook(self, name, url, events, sources, list_id):
        """Register a webhook: AC posts `events` on list `list_id` caused by
        `sources` to `url`. Returns its id."""
        answer = self.client.post("/webhooks", webhook_body(name, url, events, sources, list_id))
        webhook_id = str((answer.get("webhook") or {}).get("id") or "")
        if not webhook_id:
            # Not sent again: AC may have registered it all the same (the next register finds it).
            raise BadResponse("AC answered the webhook registration without a webhook id", retryable=False)
        return webhook_id

    def remove_webhook(self, webhook_id):
        """Delete a webhook. One AC no longer has counts as removed."""
        try:
            self.client.request("DELETE", f"/webhooks/{webhook_id}")
        except NotFound:
            pass

    # -- the bulk importer -----------------------------------------------------
    def bulk_row(self, payload, *, exclude_automations):
        """The importer's row for `payload`, subscribed to the list. Raises
        NotBulkable for a contact attribute the importer has no name for."""
        return bulk_contact(payload, self._bulk_ids(payload.fields), self._bulk_list(), exclude_automations)

    def _bulk_ids(self, perstags):
        missing = set(perstags) - set(self._bulk_field_ids)
        if missing:
            if not self.catalog.fields_fresh:
                # Ids AC no longer knows would fail every row of every batch: read them once per run.
                self.catalog.refresh_fields()
            self._bulk_field_ids.update(self.catalog.field_ids(missing))
        return self._bulk_field_ids

    def _bulk_list(self):
        if self._bulk_list_id is None:
            self._bulk_list_id = self.catalog.list_id(self.list_stringid)
        return self._bulk_list_id

    def known_field_id(self, perstag):
        return self.catalog.known_field_id(perstag)

    @staticmethod
    def bulk_row_size(row):
        """Bytes `row` adds to a request body, as `requests` sends it."""
        return row_size(row)

    @staticmethod
    def bulk_fits(rows_size, count):
        """Whether `count` rows of these summed sizes make a body under AC's byte limit."""
        return bulk_request_fits(rows_size, count)

    def bulk_import(self, rows):
        """POST the rows to the importer; returns AC's `batchId`."""
        try:
            answer = self.client.request("POST", BULK_IMPORT_PATH, json_body=bulk_import_body(rows))
        except ValidationFailed as error:
            if _rate_limited(error.body):
                # Over the importer's minute (another process, or AC counts differently).
                raise BulkRateLimited(str(error), status=error.status, body=error.body,
                                      retry_after=IMPORTER_BUSY_WAIT) from error
            raise RowsRejected(str(error), rows=_named_rows(error.body, len(rows)),
                               reason=summarize_errors(error.body), status=error.status, body=error.body) from error
        batch_id = str(answer.body.get("batchId") or "")
        if not batch_id:
            # Not sent again: AC may have queued it all the same.
            raise BadResponse(f"AC queued the import but gave no batchId: {answer.body}"[:500],
                              status=answer.status, body=answer.body, retryable=False)
        return batch_id

    def import_report(self, batch_id):
        """`GET /import/info`. AC's `status` is `waiting`, `claimed` or
        `active` while it works (or the boolean false just after queueing),
        then `completed`, with the emails it lists under `failure` (it gives no
        reason for them), or `failed` or `interrupted`: final, and those
        contacts were not (all) imported (docs/activecampaign.md §7, §11)."""
        answer = self.client.get(IMPORT_INFO_PATH, batchId=batch_id)
        raw = answer.get("status")
        status = raw.strip().lower() if isinstance(raw, str) else ""
        if status in IMPORT_ABORTED:
            return ImportReport(finished=True, status=status, aborted=True)
        return ImportReport(finished=status == "completed", failed_emails=frozenset(_failed_emails(answer)),
                            status=status or str(raw).lower())

    @staticmethod
    def bulk_request_record(row):
        return {"method": "POST", "path": "/api/3" + BULK_IMPORT_PATH, "body": bulk_import_body([row]),
                "status": None, "response": ""}

    def import_report_record(self, batch_id, report):
        answer = {"status": report.status, "failed_in_batch": sorted(report.failed_emails)}
        return {"method": "GET", "path": f"/api/3{IMPORT_INFO_PATH}?batchId={batch_id}", "body": None, "status": 200,
                "response": json.dumps(answer)[: self.client.body_limit]}


# -- the importer's answers (docs/activecampaign.md §7) --------------------------------------------
def _named_rows(body, count):
    """{index: reason} for the rows a rejection names
    (`failureReasons: [{"contact": index, "failureReason": ...}]`)."""
    named = {}
    reasons = body.get("failureReasons") if isinstance(body, dict) else None
    for item in reasons or []:
        if isinstance(item, dict) and str(item.get("contact", "")).isdigit() and int(item["contact"]) < count:
            index = int(item["contact"])
            reason = str(item.get("failureReason") or "refused")
            named[index] = f"{named[index]}; {reason}" if index in named else reason
    return named


# Keys of AC's contact that are links and ids of other records, not data about the person.
CONTACT_KEYS_NOT_DATA = {"links", "fieldValues"}
DELETION_LIMIT_REACHED = "AC's monthly deletion limit is reached: raise it in AC (or wait for next month)"


def _deletion_limit_reached(body):
    """AC's 422 once the account's monthly cap on deletions is used up
    (code `deletion_limit`, docs/activecampaign.md §11.4)."""
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and (error.get("code") == "deletion_limit"
                                        or "deletion limit" in str(error.get("title") or "").lower()):
            return True
    return False


def _rate_limited(body):
    return isinstance(body, dict) and "rate limit" in str(body.get("message", "")).lower()


def _failed_emails(answer):
    emails = set()
    for item in answer.get("failure") or []:
        email = item.get("email") if isinstance(item, dict) else item
        if email:
            emails.add(str(email).strip().lower())
    return emails


# -- what comes back (docs/activecampaign.md §6, §8) ------------------------------------------------
def _list_status(membership, contact_id):
    status = str(membership.get("status", ""))
    if not status.isdigit():
        raise BadResponse(f"AC gave contact {contact_id} a list status that is not a number: {status[:20]!r}")
    return int(status)


def _aware_time(text, contact_id):
    """AC's ISO 8601 time with its offset (`2026-11-27T10:00:00-06:00`). One
    without an offset, or none, is refused: guessing its zone could place a
    change hours off, and the newest change wins."""
    try:
        moment = datetime.datetime.fromisoformat(str(text or ""))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadResponse(f"AC gave contact {contact_id} an update time without a zone: {str(text)[:40]!r}")
    return moment


def _number(contact):
    text = str(contact.get("id") or "")
    return int(text) if text.isdigit() else 0


def _webhook(item):
    return {"id": str(item.get("id") or ""), "name": str(item.get("name") or ""), "url": str(item.get("url") or ""),
            "events": [str(event) for event in item.get("events") or []],
            "sources": [str(source) for source in item.get("sources") or []],
            "list_id": str(item.get("listid") or "0")}


# AC's API host for an account, e.g. `acme.api-us1.com`; its web app lives at `acme.activehosted.com`.
API_HOST = re.compile(r"\.api-us\d+\.com$")


def contact_url(account_url, contact_id):
    """Where staff see a contact in AC's web app: `{account web URL}/app/contacts/{id}`,
    the web URL being the API URL with `.api-usN.com` turned into `.activehosted.com`.
    For the loopback sandbox, its root page (it lists every contact). None if unknown."""
    if not (account_url and contact_id):
        return None
    parts = urlsplit(account_url)
    if not parts.hostname:
        return None
    if is_loopback(parts.hostname):
        return f"{parts.scheme}://{parts.netloc}/"
    return f"https://{API_HOST.sub('.activehosted.com', parts.hostname)}/app/contacts/{contact_id}"
