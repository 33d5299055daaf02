"""The ids of one AC account that crm_sync needs: custom fields by perstag,
the list by stringid, tags by name. Looked up once through the client and
kept in a store every worker shares (crm_sync gives it the database's,
`crm_sync.catalog.DatabaseCatalogStore`).

Never by a hard-coded id: ids differ from account to account
(docs/activecampaign.md). The fields are read again only when a perstag is
missing or AC refuses a stored id (`forget_fields`).
"""
from ..errors import ConfigurationError, ValidationFailed
from .payloads import tag_body

FIELD, TAG, LIST = "field", "tag", "list"
# AC field types whose values must be option values (docs/activecampaign.md §4).
CHOICE_TYPES = {"checkbox", "listbox", "dropdown", "radio"}


def account_fields(page):
    """{perstag: {"id", "title", "type", "options": [{"value", "label"}], "related"}}
    from `GET /fields` with its sideloaded `fieldOptions` and `fieldRels`."""
    options_by_id = {str(option["id"]): option for option in page.get("fieldOptions") or []}
    related = {str(rel.get("field")) for rel in page.get("fieldRels") or []}
    fields = {}
    for field in page.get("fields") or []:
        if not field.get("perstag"):
            continue
        options = [options_by_id[str(option_id)] for option_id in field.get("options") or []
                   if str(option_id) in options_by_id]
        fields[field["perstag"].upper()] = {
            "id": str(field["id"]),
            "title": field.get("title") or "",
            "type": field.get("type") or "",
            "options": [{"value": str(o.get("value") or ""), "label": str(o.get("label") or "")} for o in options],
            "related": str(field["id"]) in related or bool(field.get("relations")),
        }
    return fields


def _plain(text):
    return " ".join(str(text).split()).casefold()


def option_value(choice, options):
    """The value AC holds for `choice`, matched on an option's value, then on
    its label, the way a person would (case and spaces around words don't
    matter); None if the field has no such option. `options`:
    [{"value", "label"}] (older stores kept plain strings)."""
    wanted = _plain(choice)
    options = [{"value": o, "label": o} if isinstance(o, str) else o for o in options]
    for key in ("value", "label"):
        for option in options:
            if _plain(option[key]) == wanted:
                return option["value"]
    return None

class AccountCatalog:
    """Ids read through `client` when `store` does not hold them yet.

    `store` has `get_many(kind, keys) -> {key: {"id", **data}}`,
    `ids(kind) -> {key: id}`, `put(kind, key, id, data=None)` and
    `forget(kind, key=None)`.
    """

    def __init__(self, client, store):
        self.client = client
        self.store = store
        self.fields_fresh = False  # read from AC during this attempt
        # Fields already read from the store by this catalog (one attempt,
        # or one resync run, which asks for every person's fields).
        self._fields = {}

    # -- custom fields -----------------------------------------------------
    def fields(self, perstags):
        """{perstag: {"id", "title", "type", "options", "related"}} for the given perstags.

        Raises ConfigurationError naming any perstag the account lacks.
        """
        wanted = set(perstags)
        if wanted - set(self._fields):
            self._fields.update(self.store.get_many(FIELD, wanted - set(self._fields)))
            if wanted - set(self._fields) and not self.fields_fresh:
                self.refresh_fields()
                self._fields.update(self.store.get_many(FIELD, wanted))
        missing = sorted(wanted - set(self._fields))
        if missing:
            raise ConfigurationError(f"AC account has no custom field with perstag {', '.join(missing)}")
        return {perstag: self._fields[perstag] for perstag in wanted}

    def field_ids(self, perstags):
        """{perstag: AC field id} for the given perstags (see `fields`)."""
        return {perstag: info["id"] for perstag, info in self.fields(perstags).items()}

    def refresh_fields(self):
        """Read every field of the account, with its options, into the store."""
        for perstag, field in account_fields(self.client.get_all("/fields", "fields")).items():
            self.store.put(FIELD, perstag, field.pop("id"), field)
        self.fields_fresh = True
        self._fields = {}

    def forget_fields(self):
        self.store.forget(FIELD)
        self.fields_fresh = False
        self._fields = {}

    def known_field_id(self, perstag):
        """The stored id of the field, without asking AC; "" if none yet."""
        return (self.store.get_many(FIELD, [perstag]).get(perstag) or {}).get("id", "")

    # -- list --------------------------------------------------------------
    def list_id(self, stringid):
        entry = self.store.get_many(LIST, [stringid]).get(stringid)
        if entry:
            return entry["id"]
        # AC documents no filter by stringid, so page through.
        for item in self.client.get_all("/lists", "lists")["lists"]:
            if item.get("stringid") == stringid:
                self.store.put(LIST, stringid, item["id"])
                return str(item["id"])
        raise ConfigurationError(f"AC account has no list with stringid {stringid!r}")

    # -- tags --------------------------------------------------------------
    def tag_id(self, name):
        """The id of the tag called `name` (compared case-insensitively, as AC
        does), created if the account has none."""
        key = name.lower()
        entry = self.store.get_many(TAG, [key]).get(key)
        if entry:
            return entry["id"]
        tag_id = self._search_tag(name)
        if tag_id is None:
            try:
                created = self.client.post("/tags", tag_body(name))
                tag_id = str(created["tag"]["id"])
            except ValidationFailed:
                # Another worker created it a moment ago; AC refuses duplicates.
                tag_id = self._search_tag(name)
                if tag_id is None:
                    raise
        self.store.put(TAG, key, tag_id)
        return tag_id

    def _search_tag(self, name):
        # `search` matches by contains, so "badge-maker" also finds
        # "badge-maker-2019": keep only the exact, case-insensitive match.
        for tag in self.client.get_all("/tags", "tags", search=name)["tags"]:
            if (tag.get("tag") or "").lower() == name.lower():
                return str(tag["id"])
        return None

    def forget_tag(self, name):
        self.store.forget(TAG, name.lower())


class StoredIds:
    """The catalog of a backend that never contacts AC (the resync's dry run):
    the ids `store` already holds, read once and never written; an id not
    stored yet stands as its own key (the dry run shows it without an id)."""

    fields_fresh = True  # nothing to read again

    def __init__(self, store):
        self.store = store
        self._ids = {}

    def _of(self, kind):
        if kind not in self._ids:
            self._ids[kind] = self.store.ids(kind)
        return self._ids[kind]

    def field_ids(self, perstags):
        return {perstag: self._of(FIELD).get(perstag, perstag) for perstag in perstags}

    def fields(self, perstags):
        """What the store holds of these fields (those it lacks are left out)."""
        return self.store.get_many(FIELD, perstags)

    def refresh_fields(self):
        pass

    def known_field_id(self, perstag):
        return self._of(FIELD).get(perstag, "")

    def list_id(self, stringid):
        return self._of(LIST).get(stringid, stringid)
