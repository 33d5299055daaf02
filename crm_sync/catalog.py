"""Where the CRM account's ids are kept once looked up: the database,
shared by every worker (`CatalogEntry`). The CRM backend decides what to
look up and how (for AC: the AC package's catalog); this only keeps
the answers, per account, so pointing crm_sync at another account never
reuses a stale id."""
from .models import CatalogEntry


class DatabaseCatalogStore:
    def __init__(self, account_url):
        self.account_url = account_url

    def _entries(self, kind):
        return CatalogEntry.objects.filter(account_url=self.account_url, kind=kind)

    def get_many(self, kind, keys):
        """{key: {"id", **data}} for those of `keys` stored."""
        return {entry.key: {"id": entry.ac_id, **entry.data} for entry in self._entries(kind).filter(key__in=keys)}

    def ids(self, kind):
        """{key: id} of every entry of `kind` stored."""
        return dict(self._entries(kind).values_list("key", "ac_id"))

    def put(self, kind, key, crm_id, data=None):
        CatalogEntry.objects.update_or_create(
            account_url=self.account_url, kind=kind, key=key, defaults={"ac_id": str(crm_id), "data": data or {}},
        )

    def forget(self, kind, key=None):
        entries = self._entries(kind)
        (entries.filter(key=key) if key is not None else entries).delete()
