"""What the host's mapping needs of the CRM account, and the report of how
the account measures up: one row per custom field, per field's options,
for the list and per tag, each with its state and what the sync does about
it. `manage.py crm_sync_schema`, the admin's schema page, the dashboard and
the system check all show these rows.

Pure and free of Django, like crm.py: the CRM's package reads the account,
fills in the rows and creates what is missing (its `schema` module);
connection.py builds it from the settings.
"""
from dataclasses import asdict, dataclass, field
from datetime import datetime

# The last report is kept in the catalog store, beside the ids (CatalogEntry kind "schema").
REPORT_KIND, REPORT_KEY = "schema", "report"

# A row's state.
OK = "ok"
MISSING = "missing"
WRONG_TYPE = "wrong type"
MISSING_OPTIONS = "missing options"
NOT_RELATED = "not related"       # a field that belongs to no list: hidden in the CRM's UI
NOT_ALLOWED = "not allowed"       # a name the CRM refuses (a tag with a comma)

FIELD, OPTIONS, LIST, TAG = "field", "options", "list", "tag"
COLUMNS = ("item", "state", "detail", "the sync")


# -- what the mapping needs ----------------------------------------------------------
@dataclass(frozen=True)
class FieldNeed:
    """A custom field the mapping writes: `type` is the mapping's encoder
    (mapping.Field.type), `choices` the option values it writes, in order."""

    perstag: str
    title: str
    type: str
    choices: tuple = ()


@dataclass(frozen=True)
class ListNeed:
    """The list opted-in people join, and what creating it takes."""

    stringid: str
    name: str
    sender_url: str
    sender_reminder: str


@dataclass(frozen=True)
class Needs:
    fields: tuple
    list: ListNeed
    tags: tuple = ()


def needs_of(mapping, list_need, *, with_tags=True):
    """What `mapping` (a CrmMapping) writes: its custom fields with their
    choices, `list_need`, and, `with_tags`, the tags its `schema_tags()` names
    (reading them may query the host's tables)."""
    fields = tuple(
        FieldNeed(spec.perstag, spec.title, spec.type, tuple((spec.options or {}).values()))
        for spec in mapping.fields
    )
    tags = tuple(dict.fromkeys(mapping.schema_tags())) if with_tags else ()
    return Needs(fields, list_need, tags)


# -- the report ----------------------------------------------------------------------
@dataclass
class Row:
    """One item of the account: `kind` (field, options, list, tag), its
    `name`, its `state`, a `detail` for a person, and `sync`: what the live
    sync does about it."""

    kind: str
    name: str
    state: str
    detail: str = ""
    sync: str = ""

    @property
    def item(self):
        return f"{self.kind} {self.name}"

    @property
    def blocking(self):
        """Whether the account cannot take every value because of it. A
        missing tag does not count: the sync creates tags on first use."""
        return self.state != OK and not (self.kind == TAG and self.state == MISSING)


@dataclass
class Report:
    """The rows of one check of the account, when it was made, and for an
    apply the writes it sent (or, `mode` "dry-run", would send):
    {"item", "method", "path", "body", "status"} (status None when not
    sent), with `refusals`, one line per create the CRM refused."""

    rows: list
    checked_at: datetime
    account_url: str = ""
    mode: str = "check"
    requests: list = field(default_factory=list)
    refusals: list = field(default_factory=list)

    @property
    def problems(self):
        return [row for row in self.rows if row.blocking]

    @property
    def fits(self):
        """True when the account can take every value the mapping writes."""
        return not self.problems

    def as_json(self):
        return {
            "fits": self.fits, "checked_at": self.checked_at.isoformat(), "account_url": self.account_url,
            "mode": self.mode,
            "rows": [{**asdict(row), "item": row.item, "blocking": row.blocking} for row in self.rows],
            "requests": self.requests, "refusals": self.refusals,
        }

    @classmethod
    def from_json(cls, data):
        rows = [Row(row["kind"], row["name"], row["state"], row.get("detail", ""), row.get("sync", ""))
                for row in data.get("rows") or []]
        return cls(rows, datetime.fromisoformat(data["checked_at"]), data.get("account_url", ""),
                   data.get("mode", "check"), list(data.get("requests") or []), list(data.get("refusals") or []))


def last_report(store):
    """The report the last check kept in the catalog `store`, or None."""
    data = store.get_many(REPORT_KIND, [REPORT_KEY]).get(REPORT_KEY)
    return Report.from_json(data) if data and data.get("checked_at") else None


def keep_report(store, report):
    store.put(REPORT_KIND, REPORT_KEY, "", report.as_json())


def table(rows):
    """The rows as lines of a plain-text table: a heading, a rule, a line
    per row, the columns padded to their widest cell (the last one not)."""
    cells = [COLUMNS] + [(row.item, row.state, row.detail, row.sync) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in cells]
    return [lines[0], "  ".join("-" * width for width in widths), *lines[1:]]
