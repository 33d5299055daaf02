"""Fixtures for the schema check (`crm_sync_schema`): an AC account at the
HTTP boundary whose fields, options, relations, lists and tags a test sets
up and whose writes it reads back (`responses`), a catalog store in memory,
and the AC sandbox started empty, as a new organiser's account is."""
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from badgemaker.crm_mapping import BadgeMakerMapping
from crm_sync.activecampaign.catalog import AccountCatalog
from crm_sync.activecampaign.client import ActiveCampaignClient
from crm_sync.activecampaign.schema import AccountSchema
from crm_sync.schema import ListNeed, Needs, needs_of
from tests.fake_ac import AC_URL, API_KEY, BASE

LIST_NEED = ListNeed("badge-maker-attendees", "Badge Maker Attendees", "https://badges.example.org",
                     "You confirmed a badge.")


class MemoryStore:
    """The catalog store's four operations over a dict (crm_sync.catalog.DatabaseCatalogStore's contract)."""

    def __init__(self):
        self.entries = {}

    def get_many(self, kind, keys):
        return {key: dict(self.entries[kind, key]) for key in keys if (kind, key) in self.entries}

    def ids(self, kind):
        return {key: entry["id"] for (entry_kind, key), entry in self.entries.items() if entry_kind == kind}

    def put(self, kind, key, crm_id, data=None):
        self.entries[kind, key] = {"id": str(crm_id), **(data or {})}

    def forget(self, kind, key=None):
        for entry_kind, entry_key in list(self.entries):
            if entry_kind == kind and key in (None, entry_key):
                del self.entries[entry_kind, entry_key]


class FakeAccount:
    """An AC account as `rsps` answers it: GET and POST of fields, fieldRels,
    fieldOption/bulk, lists and listGroups, GET of tags. `refuse[path]` makes
    the POSTs to that path whose body contains the text answer 422."""

    def __init__(self, rsps):
        self.rsps = rsps
        self.fields, self.options, self.rels = {}, {}, []
        self.lists, self.groups, self.tags = {}, [], {}
        self.refuse = {}
        self.next_id = 100
        for path in ("/fields", "/lists", "/tags"):
            rsps.add_callback("GET", BASE + path, callback=self._get)
        for path in ("/fields", "/fieldRels", "/fieldOption/bulk", "/lists", "/listGroups"):
            rsps.add_callback("POST", BASE + path, callback=self._post)

    # -- setting the account up ---------------------------------------------------
    def _id(self):
        self.next_id += 1
        return str(self.next_id)

    def add_field(self, perstag, type_, title=None, options=(), related=True):
        """A field; `options`: values, or (value, label) pairs."""
        field_id = self._id()
        self.fields[field_id] = {"id": field_id, "perstag": perstag, "title": title or perstag.title(),
                                 "type": type_, "options": []}
        for option in options:
            value, label = option if isinstance(option, tuple) else (option, option)
            self._add_option(field_id, value, label)
        if related:
            self.rels.append({"id": self._id(), "field": field_id, "relid": "0"})
        return field_id

    def _add_option(self, field_id, value, label):
        option_id = self._id()
        self.options[option_id] = {"id": option_id, "field": field_id, "value": value, "label": label}
        self.fields[field_id]["options"].append(option_id)

    def add_list(self, stringid, name="A list"):
        list_id = self._id()
        self.lists[list_id] = {"id": list_id, "stringid": stringid, "name": name}
        return list_id

    # -- reading what was sent ----------------------------------------------------
    def calls(self, method=None):
        """(method, path, body) of every request, in order."""
        found = []
        for call in self.rsps.calls:
            if method and call.request.method != method:
                continue
            body = json.loads(call.request.body) if call.request.body else None
            found.append((call.request.method, urlsplit(call.request.url).path[len("/api/3"):], body))
        return found

    def writes(self):
        return [(path, body) for method, path, body in self.calls() if method != "GET"]

    def field_id(self, perstag):
        return next(field_id for field_id, field in self.fields.items() if field["perstag"] == perstag)

    def option_values(self, perstag):
        return [self.options[o]["value"] for o in self.fields[self.field_id(perstag)]["options"]]

    # -- answering ----------------------------------------------------------------
    def _json(self, status, body):
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    def _get(self, request):
        path = urlsplit(request.url).path[len("/api/3"):]
        query = parse_qs(urlsplit(request.url).query)
        if path == "/fields":
            fields = [{**field, "relations": [r["id"] for r in self.rels if r["field"] == field["id"]]}
                      for field in self.fields.values()]
            return self._json(200, {"fields": fields, "fieldOptions": list(self.options.values()),
                                    "fieldRels": self.rels, "meta": {"total": str(len(fields))}})
        if path == "/lists":
            return self._json(200, {"lists": list(self.lists.values()), "meta": {"total": str(len(self.lists))}})
        term = query.get("search", [""])[0].lower()
        found = [{"id": i, "tag": name} for i, name in self.tags.items() if term in name.lower()]
        return self._json(200, {"tags": found, "meta": {"total": str(len(found))}})

    def _post(self, request):
        path = urlsplit(request.url).path[len("/api/3"):]
        body = json.loads(request.body)
        text = request.body.decode() if isinstance(request.body, bytes) else request.body
        if self.refuse.get(path) and self.refuse[path] in text:
            return self._json(422, {"errors": [{"title": "There is already a field with this title",
                                                "code": "duplicate"}]})
        if path == "/fields":
            item = body["field"]
            field_id = self._id()
            self.fields[field_id] = {"id": field_id, "perstag": item["perstag"], "title": item["title"],
                                     "type": item["type"], "options": []}
            return self._json(201, {"field": self.fields[field_id]})
        if path == "/fieldRels":
            rel = {"id": self._id(), "field": str(body["fieldRel"]["field"]), "relid": str(body["fieldRel"]["relid"])}
            self.rels.append(rel)
            return self._json(201, {"fieldRel": rel})
        if path == "/fieldOption/bulk":
            if not isinstance(body.get("fieldOptions"), list):
                return self._json(422, {"errors": "Bulk operation failed."})
            for option in body["fieldOptions"]:
                self._add_option(str(option["field"]), option["value"], option["label"])
            return self._json(201, {"fieldOptions": body["fieldOptions"]})
        if path == "/lists":
            item = body["list"]
            list_id = self.add_list(item["stringid"], item["name"])
            return self._json(200, {"list": self.lists[list_id]})
        self.groups.append(body["listGroup"])
        return self._json(201, {"listGroup": {**body["listGroup"], "id": self._id()}})


@pytest.fixture
def account():
    """An empty AC account at the HTTP boundary (FakeAccount)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeAccount(rsps)


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def make_schema(account, store):
    """`make_schema(needs, dry_run=False)`: an AccountSchema over the fake account and the memory store."""

    def make(needs, dry_run=False):
        client = ActiveCampaignClient(AC_URL, API_KEY)
        return AccountSchema(client, AccountCatalog(client, store), needs, account_url=AC_URL, dry_run=dry_run)

    return make


@pytest.fixture
def badge_maker_needs():
    """What Badge Maker's mapping needs, without its tags (no database here)."""
    return needs_of(BadgeMakerMapping(), LIST_NEED, with_tags=False)


def needs(*fields, list_need=LIST_NEED, tags=()):
    """Needs of the given crm_sync.schema.FieldNeed's, the list and tags."""
    return Needs(tuple(fields), list_need, tuple(tags))
