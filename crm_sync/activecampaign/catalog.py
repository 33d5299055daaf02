"""AC ids crm_sync needs, looked up once and shared by every worker through
the database: custom fields by perstag, the list by stringid, tags by name.

Never by a hard-coded id: ids differ from account to account (API.md §4).
The field catalog is read again only when a perstag is missing or AC refuses
a stored id (`forget_fields`).
"""
from ..models import CatalogEntry
from .errors import ConfigurationError, ValidationFailed

Kind = CatalogEntry.Kind


class Catalog:
    def __init__(self, client, account_url):
        self.client = client
        self.account_url = account_url
        self.fields_fresh = False  # read from AC during this attempt

    def _entries(self, kind):
        return CatalogEntry.objects.filter(account_url=self.account_url, kind=kind)

    def _store(self, kind, key, ac_id, data=None):
        CatalogEntry.objects.update_or_create(
            account_url=self.account_url, kind=kind, key=key, defaults={"ac_id": str(ac_id), "data": data or {}},
        )

    # -- custom fields -----------------------------------------------------
    def fields(self, perstags):
        """{perstag: {"id", "type", "options"}} for the given perstags.

        Raises ConfigurationError naming any perstag the account lacks.
        """
        wanted = set(perstags)
        found = self._stored_fields(wanted)
        if wanted - set(found) and not self.fields_fresh:
            self.refresh_fields()
            found = self._stored_fields(wanted)
        missing = sorted(wanted - set(found))
        if missing:
            raise ConfigurationError(f"AC account has no custom field with perstag {', '.join(missing)}")
        return found

    def _stored_fields(self, perstags):
        return {
            entry.key: {"id": entry.ac_id, **entry.data}
            for entry in self._entries(Kind.FIELD).filter(key__in=perstags)
        }

    def refresh_fields(self):
        page = self.client.get_all("/fields", "fields")
        options_by_id = {str(option["id"]): option for option in page.get("fieldOptions", [])}
        for field in page["fields"]:
            if not field.get("perstag"):
                continue
            options = [
                options_by_id[str(option_id)].get("value") or options_by_id[str(option_id)].get("label")
                for option_id in field.get("options") or []
                if str(option_id) in options_by_id
            ]
            self._store(Kind.FIELD, field["perstag"].upper(), field["id"], {"type": field.get("type"), "options": options})
        self.fields_fresh = True

    def forget_fields(self):
        self._entries(Kind.FIELD).delete()
        self.fields_fresh = False

    # -- list --------------------------------------------------------------
    def list_id(self, stringid):
        entry = self._entries(Kind.LIST).filter(key=stringid).first()
        if entry:
            return entry.ac_id
        # AC documents no filter by stringid, so page through (API.md §6).
        for item in self.client.get_all("/lists", "lists")["lists"]:
            if item.get("stringid") == stringid:
                self._store(Kind.LIST, stringid, item["id"])
                return str(item["id"])
        raise ConfigurationError(f"AC account has no list with stringid {stringid!r}")

    # -- tags --------------------------------------------------------------
    def tag_id(self, name):
        """The id of the tag called `name` (compared case-insensitively, as AC
        does), created if the account has none."""
        key = name.lower()
        entry = self._entries(Kind.TAG).filter(key=key).first()
        if entry:
            return entry.ac_id
        tag_id = self._search_tag(name)
        if tag_id is None:
            try:
                created = self.client.post("/tags", {"tag": {"tag": name, "tagType": "contact",
                                                              "description": "Added by crm_sync"}})
                tag_id = str(created["tag"]["id"])
            except ValidationFailed:
                # Another worker created it a moment ago; AC refuses duplicates.
                tag_id = self._search_tag(name)
                if tag_id is None:
                    raise
        self._store(Kind.TAG, key, tag_id)
        return tag_id

    def _search_tag(self, name):
        # `search` matches by contains, so "badge-maker" also finds
        # "badge-maker-2019": keep only the exact, case-insensitive match.
        for tag in self.client.get_all("/tags", "tags", search=name)["tags"]:
            if (tag.get("tag") or "").lower() == name.lower():
                return str(tag["id"])
        return None

    def forget_tag(self, name):
        self._entries(Kind.TAG).filter(key=name.lower()).delete()
