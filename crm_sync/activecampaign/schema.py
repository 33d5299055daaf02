"""The AC account measured against what the mapping needs (custom fields,
their options, the list, the tags), and what is missing created, in the
order AC needs: fields, their relation to all lists, options, the list and
its user group (docs/activecampaign.md §4, §6, §11.3).

It never deletes, renames or retypes anything that exists: a field of the
wrong type stays in the report for a person to decide. A create AC refuses
is reported with what AC said and the rest still goes ahead, so running
again finishes the job, and sends nothing once everything is there. Tags
are only checked: the sync creates them on first use (§5).
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import ConfigurationError, NotFound, ValidationFailed
from ..schema import (
    FIELD as FIELD_ROW,
    LIST as LIST_ROW,
    MISSING,
    MISSING_OPTIONS,
    NOT_ALLOWED,
    NOT_RELATED,
    OK,
    OPTIONS,
    TAG as TAG_ROW,
    WRONG_TYPE,
    Report,
    Row,
    keep_report,
    last_report,
)
from .catalog import FIELD, LIST, TAG, account_fields, option_value
from .payloads import field_body, field_options_body, field_rel_body, list_body, list_group_body

# The AC field types each of the mapping's encoders can write into (§4). A
# textarea value may be longer than a text or hidden field holds
# (crm_sync/ac_assumed_limits.json), so it needs a textarea.
TAKES = {
    "text": ("text", "textarea", "hidden"),
    "hidden": ("text", "textarea", "hidden"),
    "phone": ("text", "textarea", "hidden"),
    "textarea": ("textarea",),
    "date": ("date",),
    "checkbox": ("checkbox", "listbox"),
}
# The AC type a missing field is created as, where it is not the encoder's name.
CREATE_AS = {"phone": "text"}
# What the live sync does about a row, by state (activecampaign/backend.py, catalog.py).
SYNC_DOES = {
    (FIELD_ROW, OK): "sends its values",
    (FIELD_ROW, MISSING): "fails the sync of anyone with a value for it (configuration error)",
    (FIELD_ROW, WRONG_TYPE): "sends its values as they are: AC may refuse them or store them wrongly",
    (FIELD_ROW, NOT_RELATED): "sends its values; AC's UI does not show the field (open question 6)",
    (OPTIONS, OK): "sends the option values the account holds",
    (OPTIONS, MISSING_OPTIONS): "leaves those choices out, with a warning",
    (LIST_ROW, OK): "subscribes opted-in people",
    (LIST_ROW, MISSING): "fails every sync that subscribes or unsubscribes someone (configuration error)",
    (TAG_ROW, OK): "tags contacts with it",
    (TAG_ROW, MISSING): "creates it on first use",
    (TAG_ROW, NOT_ALLOWED): "fails the sync of anyone given this tag (AC refuses it)",
}


@dataclass
class Account:
    """What the account holds, as far as it is known. `fields`: {perstag:
    {"id", "title", "type", "options", "related"}}; `list`: {"id", "name"}
    or None when missing; `list_known`, `tags_known`: whether they were read
    (a report from the catalog store may know neither); `tags`: {name: id}
    of the tags found."""

    fields: dict
    list: dict = None
    list_known: bool = True
    tags: dict = field(default_factory=dict)
    tags_known: bool = True


def _row(kind, name, state, detail=""):
    return Row(kind, name, state, detail, SYNC_DOES.get((kind, state), ""))


# -- comparing: pure -------------------------------------------------------------------
def missing_choices(choices, options):
    """The choices no option of the field holds, by value or label (catalog.option_value)."""
    return [choice for choice in choices if option_value(choice, options) is None]


def field_rows(need, held, titles):
    """The rows of one field the mapping writes: the field, and its options
    if the mapping writes choices. `held`: the account's field or None;
    `titles`: {title, case-folded: perstag} of the account's fields."""
    create_as = CREATE_AS.get(need.type, need.type)
    if held is None:
        taken = titles.get(need.title.casefold())
        detail = (f"its title “{need.title}” is taken by field {taken}: give the mapping's Field another title"
                  if taken else f"--apply creates it: {create_as} “{need.title}”")
        rows = [_row(FIELD_ROW, need.perstag, MISSING, detail)]
        if need.choices:
            rows.append(_row(OPTIONS, need.perstag, MISSING_OPTIONS, ", ".join(need.choices)))
        return rows
    if held["type"] not in TAKES.get(need.type, (need.type,)):
        wanted = " or ".join(TAKES.get(need.type, (need.type,)))
        return [_row(FIELD_ROW, need.perstag, WRONG_TYPE,
                     f"AC's field is {held['type'] or 'untyped'}; the mapping writes {need.type} values, "
                     f"which need {wanted}. Left as it is: a person decides")]
    if held.get("related", True):
        rows = [_row(FIELD_ROW, need.perstag, OK, held["type"])]
    else:
        rows = [_row(FIELD_ROW, need.perstag, NOT_RELATED, "on no list; --apply relates it to all lists")]
    if need.choices:
        missing = missing_choices(need.choices, held.get("options") or [])
        rows.append(_row(OPTIONS, need.perstag, MISSING_OPTIONS, ", ".join(missing)) if missing
                    else _row(OPTIONS, need.perstag, OK, f"{len(need.choices)} of {len(need.choices)}"))
    return rows


def list_row(need, held):
    if held:
        return _row(LIST_ROW, need.stringid, OK, f"“{held.get('name') or need.stringid}”")
    if not need.sender_url:
        return _row(LIST_ROW, need.stringid, MISSING,
                    "set CRM_SYNC['LIST_SENDER_URL'] (or PUBLIC_BASE_URL) so that --apply can create it")
    return _row(LIST_ROW, need.stringid, MISSING, f"--apply creates it: “{need.name}”")


def tag_row(name, found):
    if "," in name:
        return _row(TAG_ROW, name, NOT_ALLOWED, "AC refuses a comma in a tag name: change the mapping's tags")
    return _row(TAG_ROW, name, OK) if found else _row(TAG_ROW, name, MISSING)


def compare(needs, account):
    """The report's rows: every field the mapping writes (with its options),
    then the list and the tags where `account` knows them."""
    titles = {held["title"].casefold(): perstag for perstag, held in account.fields.items() if held.get("title")}
    rows = []
    for need in needs.fields:
        rows += field_rows(need, account.fields.get(need.perstag.upper()), titles)
    if account.list_known:
        rows.append(list_row(needs.list, account.list))
    if account.tags_known:
        rows += [tag_row(name, account.tags.get(name)) for name in needs.tags]
    return rows


def fits_type(need, held):
    return held is not None and held["type"] in TAKES.get(need.type, (need.type,))


def stored_report(store, needs, account_url=""):
    """The report as of what the catalog `store` holds (the last check or
    sync read it), without asking AC; None when it holds no field yet. The
    list counts as missing only if the last check found it missing and no
    sync has found it since; tags are not looked at."""
    if not store.ids(FIELD):
        return None
    fields = store.get_many(FIELD, [need.perstag.upper() for need in needs.fields])
    held_list = store.get_many(LIST, [needs.list.stringid]).get(needs.list.stringid)
    last = last_report(store)
    list_known = bool(held_list) or any(
        row.kind == LIST_ROW and row.name == needs.list.stringid and row.state == MISSING
        for row in (last.rows if last else []))
    account = Account(fields, held_list, list_known=list_known, tags_known=False)
    checked_at = last.checked_at if last else datetime.now(timezone.utc)
    return Report(compare(needs, account), checked_at, account_url, mode="stored")


# -- reading and creating: through the client ------------------------------------------
class AccountSchema:
    """Reads the account through `client` (reads only, until `apply`) and
    keeps what it read in `catalog`'s store, so the sync and the system check
    see what it saw; the report is kept there too. `dry_run`: `apply`
    records the writes it would send and sends none."""

    def __init__(self, client, catalog, needs, *, account_url="", dry_run=False):
        self.client = client
        self.store = catalog.store
        self.needs = needs
        self.account_url = account_url
        self.dry_run = dry_run
        self.requests = []
        self.refusals = []

    def close(self):
        self.client.close()

    def check(self):
        """The report of the account as it is now (read calls only)."""
        return self._report(self.read(), "check")

    def apply(self):
        """Create what is missing, in AC's order, then read the account again
        and report it (or, on a dry run, report it as it was)."""
        account = self.read()
        new_fields = self.create_fields(account)
        self.relate_fields(account, new_fields)
        self.add_options(account, new_fields)
        self.create_list(account)
        if self.dry_run:
            return self._report(account, "dry-run")
        return self._report(self.read(), "apply")

    def _report(self, account, mode):
        report = Report(compare(self.needs, account), datetime.now(timezone.utc), self.account_url, mode,
                        self.requests, self.refusals)
        keep_report(self.store, report)
        return report

    # -- reading ---------------------------------------------------------------
    def read(self):
        return Account(self.read_fields(), self.read_list(), tags=self.read_tags())

    def read_fields(self):
        """Every field of the account (paged, with its options and relations);
        the store is made to hold exactly these."""
        fields = account_fields(self.client.get_all("/fields", "fields"))
        for gone in set(self.store.ids(FIELD)) - set(fields):
            self.store.forget(FIELD, gone)
        for perstag, held in fields.items():
            self.store.put(FIELD, perstag, held["id"], {key: value for key, value in held.items() if key != "id"})
        return fields

    def read_list(self):
        """The list with the configured stringid, or None. AC documents no
        filter by stringid, so every page is read (§6)."""
        stringid = self.needs.list.stringid
        for item in self.client.get_all("/lists", "lists")["lists"]:
            if item.get("stringid") == stringid:
                self.store.put(LIST, stringid, item["id"])
                return {"id": str(item["id"]), "name": item.get("name") or ""}
        self.store.forget(LIST, stringid)
        return None

    def read_tags(self):
        """{name: id} of the mapping's tags the account has. `search`
        matches by contains, so only an exact, case-insensitive match counts (§5)."""
        found = {}
        for name in self.needs.tags:
            if "," in name:
                continue
            for tag in self.client.get_all("/tags", "tags", search=name)["tags"]:
                if (tag.get("tag") or "").casefold() == name.casefold():
                    found[name] = str(tag["id"])
                    self.store.put(TAG, name.lower(), found[name])
                    break
        return found

    # -- creating, in AC's order -------------------------------------------------------
    def create_fields(self, account):
        """`POST /fields` for each missing field: {perstag: its new id} (a
        placeholder on a dry run); a refused one is left out."""
        created = {}
        for need in self.needs.fields:
            perstag = need.perstag.upper()
            if perstag in account.fields:
                continue
            body = field_body(perstag, need.title, CREATE_AS.get(need.type, need.type))
            answer = self._post(f"field {perstag}", "/fields", body)
            if answer is not None:
                created[perstag] = str(answer["field"]["id"]) if not self.dry_run else f"<id of {perstag}>"
        return created

    def relate_fields(self, account, new_fields):
        """`POST /fieldRels` (all lists) for each new field and each existing
        one of the right type that belongs to no list."""
        for need in self.needs.fields:
            perstag = need.perstag.upper()
            held = account.fields.get(perstag)
            if perstag in new_fields:
                field_id = new_fields[perstag]
            elif fits_type(need, held) and not held.get("related", True):
                field_id = held["id"]
            else:
                continue
            self._post(f"field {perstag}", "/fieldRels", field_rel_body(field_id))

    def add_options(self, account, new_fields):
        """`POST /fieldOption/bulk` with the choices a field of the right type lacks."""
        for need in self.needs.fields:
            perstag = need.perstag.upper()
            held = account.fields.get(perstag)
            if not need.choices:
                continue
            if perstag in new_fields:
                field_id, options = new_fields[perstag], []
            elif fits_type(need, held):
                field_id, options = held["id"], held.get("options") or []
            else:
                continue
            missing = missing_choices(need.choices, options)
            if missing:
                self._post(f"options {perstag}", "/fieldOption/bulk",
                           field_options_body(field_id, missing, first_orderid=len(options) + 1))

    def create_list(self, account):
        """`POST /lists`, then `POST /listGroups` so that AC's UI shows it
        (§11.3); nothing without a sender URL (the report says which setting)."""
        need = self.needs.list
        if account.list is not None or not need.sender_url:
            return
        item = f"list {need.stringid}"
        answer = self._post(item, "/lists", list_body(need.stringid, need.name, need.sender_url,
                                                       need.sender_reminder))
        if answer is not None:
            list_id = str(answer["list"]["id"]) if not self.dry_run else f"<id of {need.stringid}>"
            self._post(item, "/listGroups", list_group_body(list_id))

    def _post(self, item, path, body):
        """Send one create, or record it on a dry run. The answer ({} on a
        dry run), or None when AC refused it (4xx), which is reported with
        what AC said. Anything else (AC down, the network) is raised: what
        was made stays made, and running again goes on from there."""
        sent = {"item": item, "method": "POST", "path": "/api/3" + path, "body": body, "status": None}
        self.requests.append(sent)
        if self.dry_run:
            return {}
        try:
            answer = self.client.request("POST", path, json_body=body)
        except (ValidationFailed, NotFound, ConfigurationError) as error:
            if error.status is None or not 400 <= error.status < 500:
                raise
            sent["status"] = error.status
            self.refusals.append(f"{item}: {error}")
            return None
        sent["status"] = answer.status
        return answer.body
