"""The sandbox's state in its own SQLite file; the only module that speaks SQL.

One connection, guarded by one lock: every API request runs inside
``Store.transaction()``, so requests are applied one at a time and each sees a
consistent state. The file is in WAL mode with a busy timeout so that other
processes (a developer's ``sqlite3`` shell, a second reader) never make the
server see "database is locked".

Ids come from the ``counters`` table, which a reset never wipes: an id, once
handed out, is never handed out again (deleting a contact does not free it).

Work that must follow a change only once it is committed (sending the
webhooks a change fires) is registered with ``on_commit`` inside the
transaction; a rolled-back transaction drops it.
"""

import contextlib
import datetime
import json
import sqlite3
import threading

try:
    from zoneinfo import ZoneInfo

    ACCOUNT_TZ = ZoneInfo("America/Chicago")
except Exception:  # no tz database on this machine: a fixed offset will do
    ACCOUNT_TZ = datetime.timezone(datetime.timedelta(hours=-5))

# Data tables, wiped by a reset. ``counters`` is deliberately not among them.
_DATA_TABLES = (
    "bulk_batches", "contact_lists", "contact_tags", "field_values", "contacts",
    "field_options", "field_rels", "fields", "tags", "list_groups", "lists",
    "webhooks", "contact_deletions",
)
# Id kinds; each jumps ahead by a random offset on every seed.
_ID_KINDS = ("contact", "field", "field_option", "field_rel", "field_value", "tag",
             "contact_tag", "list", "list_group", "contact_list", "webhook")
# relid 0: a field related to all lists, as fields made in AC's UI are.
ALL_LISTS = 0
# The user group AC puts lists made in its UI in (3 = the admin group by default).
ADMIN_GROUP = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL, email_lower TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL DEFAULT '', last_name TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '', cdate TEXT NOT NULL, udate TEXT NOT NULL,
    automations_excluded INTEGER);
CREATE TABLE IF NOT EXISTS fields (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, perstag TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL, ordernum INTEGER NOT NULL, cdate TEXT NOT NULL,
    descript TEXT, defval TEXT, isrequired INTEGER NOT NULL DEFAULT 0, visible INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS field_options (
    id INTEGER PRIMARY KEY, field_id INTEGER NOT NULL, label TEXT NOT NULL,
    value TEXT NOT NULL, orderid INTEGER NOT NULL, cdate TEXT NOT NULL,
    isdefault INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS field_rels (
    id INTEGER PRIMARY KEY, field_id INTEGER NOT NULL, relid INTEGER NOT NULL, cdate TEXT NOT NULL,
    UNIQUE (field_id, relid));
CREATE TABLE IF NOT EXISTS field_values (
    id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, field_id INTEGER NOT NULL,
    value TEXT NOT NULL, cdate TEXT NOT NULL, udate TEXT NOT NULL,
    UNIQUE (contact_id, field_id));
CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY, tag TEXT NOT NULL, tag_lower TEXT NOT NULL UNIQUE,
    tag_type TEXT NOT NULL, description TEXT NOT NULL, cdate TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contact_tags (
    id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, tag_id INTEGER NOT NULL,
    cdate TEXT NOT NULL, UNIQUE (contact_id, tag_id));
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, stringid TEXT NOT NULL UNIQUE, cdate TEXT NOT NULL,
    sender_url TEXT NOT NULL DEFAULT '', sender_reminder TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS list_groups (
    id INTEGER PRIMARY KEY, list_id INTEGER NOT NULL, group_id INTEGER NOT NULL, cdate TEXT NOT NULL,
    UNIQUE (list_id, group_id));
CREATE TABLE IF NOT EXISTS contact_lists (
    id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, list_id INTEGER NOT NULL,
    status INTEGER NOT NULL, sourceid INTEGER NOT NULL, sdate TEXT NOT NULL, udate TEXT NOT NULL,
    UNIQUE (contact_id, list_id));
CREATE TABLE IF NOT EXISTS bulk_batches (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, contacts TEXT NOT NULL, due_at REAL NOT NULL,
    success TEXT, failure TEXT,
    queued_at REAL NOT NULL DEFAULT 0, outcome TEXT NOT NULL DEFAULT 'completed',
    info_seen INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, url TEXT NOT NULL, events TEXT NOT NULL,
    sources TEXT NOT NULL, listid INTEGER NOT NULL, cdate TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS contact_deletions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, contact_id INTEGER NOT NULL, month TEXT NOT NULL,
    deleted_at TEXT NOT NULL);
"""

# Columns added since the first release: a sandbox file made before them gets
# them on open, so a developer's stored contacts survive an upgrade.
_ADDED_COLUMNS = (
    ("fields", "descript", "TEXT"),
    ("fields", "defval", "TEXT"),
    ("fields", "isrequired", "INTEGER NOT NULL DEFAULT 0"),
    ("fields", "visible", "INTEGER NOT NULL DEFAULT 1"),
    ("field_options", "isdefault", "INTEGER NOT NULL DEFAULT 0"),
    ("lists", "sender_url", "TEXT NOT NULL DEFAULT ''"),
    ("lists", "sender_reminder", "TEXT NOT NULL DEFAULT ''"),
    ("bulk_batches", "queued_at", "REAL NOT NULL DEFAULT 0"),
    ("bulk_batches", "outcome", "TEXT NOT NULL DEFAULT 'completed'"),
    ("bulk_batches", "info_seen", "INTEGER NOT NULL DEFAULT 0"),
)

# A batch not yet processed; the other statuses are import/info's final words.
PENDING = "queued"


def now_text():
    """The current time as AC writes it: ISO 8601 in the account's timezone."""
    return datetime.datetime.now(ACCOUNT_TZ).replace(microsecond=0).isoformat()


def to_account_timezone(moment):
    """An aware datetime shifted into the account's timezone, as AC stores datetimes."""
    return moment.astimezone(ACCOUNT_TZ).isoformat()


def account_month():
    """The current calendar month in the account's timezone, ``YYYY-MM``: AC's deletion cap counts per month."""
    return datetime.datetime.now(ACCOUNT_TZ).strftime("%Y-%m")


def in_account_timezone(naive):
    """A naive datetime read as the account's local time (how AC reads a time without an offset)."""
    return naive.replace(tzinfo=ACCOUNT_TZ)


def is_after(stored, moment):
    """Whether the stored ISO timestamp ``stored`` is strictly after the aware datetime ``moment``.

    Compared as instants, not as text: the account's offset changes with
    daylight saving time, so two stored strings may carry different offsets.
    """
    return datetime.datetime.fromisoformat(stored) > moment


class Store:
    """Rows of the emulated account. Call data methods inside ``transaction()``."""

    def __init__(self, path):
        self.path = str(path)
        self.lock = threading.RLock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves in transaction().
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        # WAL with NORMAL sync cannot corrupt the file; it only risks the last
        # commits on power loss, which a test emulator can afford. FULL made
        # every request wait for an fsync (~40 ms).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._add_missing_columns()
        self._after_commit = []

    def _add_missing_columns(self):
        for table, column, declaration in _ADDED_COLUMNS:
            present = {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def close(self):
        with self.lock:
            self.db.close()

    @contextlib.contextmanager
    def transaction(self):
        """Hold the write lock and one SQLite transaction; roll back on error.

        After the commit, the callbacks registered with ``on_commit`` run (in
        order, still under the lock, so they see commits in commit order);
        on a rollback they are dropped.
        """
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self._after_commit = []
            try:
                yield self
            except BaseException:
                self.db.execute("ROLLBACK")
                self._after_commit = []
                raise
            self.db.execute("COMMIT")
            callbacks, self._after_commit = self._after_commit, []
            for callback in callbacks:
                callback()

    def on_commit(self, callback):
        """Run ``callback()`` once the current transaction commits (never if it rolls back)."""
        self._after_commit.append(callback)

    # -- ids and seeding ---------------------------------------------------

    def next_id(self, kind, step=1):
        row = self.db.execute("SELECT last FROM counters WHERE kind = ?", (kind,)).fetchone()
        new = (row["last"] if row else 0) + step
        self.db.execute(
            "INSERT INTO counters (kind, last) VALUES (?, ?) "
            "ON CONFLICT(kind) DO UPDATE SET last = excluded.last", (kind, new))
        return new

    def is_seeded(self):
        """Whether this file was ever seeded.

        The id counters tell, not the fields: a reset never wipes the
        counters, and an empty account (no fields at all) is seeded too.
        """
        return self.db.execute("SELECT COUNT(*) FROM counters").fetchone()[0] > 0

    def wipe_and_seed(self, plan, rng):
        """Replace all data with ``plan`` (from ``seed.build_plan``), under fresh ids.

        Every id kind jumps ahead by a random offset, so ids differ between
        seeds, and kinds rarely share ids (a client confusing a tag id with a
        contactTag id then fails loudly). Seeded fields are related to all
        lists and seeded lists are in the admin group, as things made in AC's
        UI are.
        """
        for table in _DATA_TABLES:
            self.db.execute(f"DELETE FROM {table}")
        for kind in _ID_KINDS:
            self.next_id(kind, rng.randint(100, 999))
        for ordernum, field in enumerate(plan["fields"], start=1):
            field_id = self.next_id("field", rng.randint(1, 3))
            self.insert_field(field["title"], field["perstag"], field["type"], ordernum, field_id=field_id)
            self.insert_field_rel(field_id, ALL_LISTS)
            for orderid, option in enumerate(field["options"], start=1):
                self.insert_field_option(field_id, option["label"], option["value"], orderid)
        for item in plan["lists"]:
            list_id = self.next_id("list", rng.randint(1, 3))
            self.insert_list(item["name"], item["stringid"], list_id=list_id)
            self.insert_list_group(list_id, ADMIN_GROUP)
        for item in plan["tags"]:
            self.insert_tag(item["tag"], "contact", "", tag_id=self.next_id("tag", rng.randint(1, 3)))

    # -- contacts ----------------------------------------------------------

    def get_contact(self, contact_id):
        return self.db.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()

    def find_contact_by_email(self, email):
        return self.db.execute(
            "SELECT * FROM contacts WHERE email_lower = ?", (email.lower(),)).fetchone()

    def list_contacts(self, email=None, email_like=None, listid=None, status=None, updated_after=None,
                      limit=20, offset=0):
        """``(rows, total)`` ordered by id.

        ``email`` is exact, ``email_like`` contains. ``listid`` keeps the
        contacts on that list, and then ``status`` (1 or 2) those whose
        membership has it and ``updated_after`` (an aware datetime) those
        whose membership changed strictly after it. Without ``listid``,
        ``updated_after`` compares the contact's own ``udate``.
        """
        where, args = [], []
        if email is not None:
            where.append("c.email_lower = ?")
            args.append(email.lower())
        if email_like is not None:
            where.append("instr(c.email_lower, ?) > 0")
            args.append(email_like.lower())
        join, changed = "", "c.udate"
        if listid is not None:
            join, changed = "JOIN contact_lists m ON m.contact_id = c.id AND m.list_id = ?", "m.udate"
            args.insert(0, listid)
            if status is not None:
                where.append("m.status = ?")
                args.append(status)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        rows = self.db.execute(
            f"SELECT c.*, {changed} AS changed_at FROM contacts c {join} {clause} ORDER BY c.id", args).fetchall()
        if updated_after is not None:
            rows = [row for row in rows if is_after(row["changed_at"], updated_after)]
        return rows[offset:offset + limit], len(rows)

    def insert_contact(self, email):
        contact_id = self.next_id("contact")
        now = now_text()
        self.db.execute(
            "INSERT INTO contacts (id, email, email_lower, cdate, udate) VALUES (?, ?, ?, ?, ?)",
            (contact_id, email, email.lower(), now, now))
        return contact_id

    def update_contact(self, contact_id, attributes):
        """Write ``attributes`` (keys: email, first_name, last_name, phone, automations_excluded)."""
        changes = dict(attributes)
        if "email" in changes:
            changes["email_lower"] = changes["email"].lower()
        changes["udate"] = now_text()
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self.db.execute(f"UPDATE contacts SET {assignments} WHERE id = ?", [*changes.values(), contact_id])

    def touch_contact(self, contact_id):
        self.db.execute("UPDATE contacts SET udate = ? WHERE id = ?", (now_text(), contact_id))

    def delete_contact(self, contact_id):
        """Delete the contact and its rows, and count the deletion towards this month's cap."""
        for table in ("field_values", "contact_tags", "contact_lists"):
            self.db.execute(f"DELETE FROM {table} WHERE contact_id = ?", (contact_id,))
        self.db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
        self.db.execute("INSERT INTO contact_deletions (contact_id, month, deleted_at) VALUES (?, ?, ?)",
                        (contact_id, account_month(), now_text()))

    def deletions_this_month(self):
        """Contacts deleted in the current calendar month (account timezone)."""
        return self.db.execute(
            "SELECT COUNT(*) FROM contact_deletions WHERE month = ?", (account_month(),)).fetchone()[0]

    # -- fields and values -------------------------------------------------

    def get_field(self, field_id):
        return self.db.execute("SELECT * FROM fields WHERE id = ?", (field_id,)).fetchone()

    def find_field_by_perstag(self, perstag):
        return self.db.execute("SELECT * FROM fields WHERE upper(perstag) = upper(?)", (perstag,)).fetchone()

    def find_field_by_title_ci(self, title):
        return self.db.execute("SELECT * FROM fields WHERE lower(title) = lower(?)", (title,)).fetchone()

    def list_fields(self, perstag=None, limit=20, offset=0):
        clause, args = ("WHERE perstag = ?", [perstag]) if perstag is not None else ("", [])
        total = self.db.execute(f"SELECT COUNT(*) FROM fields {clause}", args).fetchone()[0]
        rows = self.db.execute(
            f"SELECT * FROM fields {clause} ORDER BY id LIMIT ? OFFSET ?", args + [limit, offset]).fetchall()
        return rows, total

    def next_ordernum(self):
        return self.db.execute("SELECT COALESCE(MAX(ordernum), 0) + 1 FROM fields").fetchone()[0]

    def insert_field(self, title, perstag, type_, ordernum, descript=None, defval=None, isrequired=0,
                     visible=1, field_id=None):
        field_id = field_id or self.next_id("field")
        self.db.execute(
            "INSERT INTO fields (id, title, perstag, type, ordernum, cdate, descript, defval, isrequired, visible) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (field_id, title, perstag, type_, ordernum, now_text(), descript, defval, isrequired, visible))
        return self.get_field(field_id)

    def field_rels(self, field_ids):
        marks = ",".join("?" * len(field_ids))
        return self.db.execute(
            f"SELECT * FROM field_rels WHERE field_id IN ({marks}) ORDER BY field_id, id", list(field_ids)).fetchall()

    def find_field_rel(self, field_id, relid):
        return self.db.execute(
            "SELECT * FROM field_rels WHERE field_id = ? AND relid = ?", (field_id, relid)).fetchone()

    def insert_field_rel(self, field_id, relid):
        rel_id = self.next_id("field_rel")
        self.db.execute("INSERT INTO field_rels (id, field_id, relid, cdate) VALUES (?, ?, ?, ?)",
                        (rel_id, field_id, relid, now_text()))
        return self.db.execute("SELECT * FROM field_rels WHERE id = ?", (rel_id,)).fetchone()

    def field_options(self, field_ids):
        marks = ",".join("?" * len(field_ids))
        return self.db.execute(
            f"SELECT * FROM field_options WHERE field_id IN ({marks}) ORDER BY field_id, orderid",
            list(field_ids)).fetchall()

    def next_orderid(self, field_id):
        return self.db.execute(
            "SELECT COALESCE(MAX(orderid), 0) + 1 FROM field_options WHERE field_id = ?", (field_id,)).fetchone()[0]

    def insert_field_option(self, field_id, label, value, orderid, isdefault=0):
        option_id = self.next_id("field_option")
        self.db.execute(
            "INSERT INTO field_options (id, field_id, label, value, orderid, cdate, isdefault) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (option_id, field_id, label, value, orderid, now_text(), isdefault))
        return self.db.execute("SELECT * FROM field_options WHERE id = ?", (option_id,)).fetchone()

    def option_values(self, field_id):
        return [row["value"] for row in self.field_options([field_id])]

    def field_values_for(self, contact_id):
        return self.db.execute(
            "SELECT * FROM field_values WHERE contact_id = ? ORDER BY id", (contact_id,)).fetchall()

    def get_field_value(self, field_value_id):
        return self.db.execute("SELECT * FROM field_values WHERE id = ?", (field_value_id,)).fetchone()

    def set_field_value(self, contact_id, field_id, value):
        """Create or overwrite the contact's value for the field; return its row."""
        now = now_text()
        existing = self.db.execute(
            "SELECT id FROM field_values WHERE contact_id = ? AND field_id = ?", (contact_id, field_id)).fetchone()
        if existing:
            self.db.execute("UPDATE field_values SET value = ?, udate = ? WHERE id = ?", (value, now, existing["id"]))
            value_id = existing["id"]
        else:
            value_id = self.next_id("field_value")
            self.db.execute(
                "INSERT INTO field_values (id, contact_id, field_id, value, cdate, udate) VALUES (?, ?, ?, ?, ?, ?)",
                (value_id, contact_id, field_id, value, now, now))
        return self.get_field_value(value_id)

    # -- tags --------------------------------------------------------------

    def all_tags(self):
        return self.db.execute("SELECT * FROM tags ORDER BY id").fetchall()

    def get_tag(self, tag_id):
        return self.db.execute("SELECT * FROM tags WHERE id = ?", (tag_id,)).fetchone()

    def find_tag_ci(self, name):
        return self.db.execute("SELECT * FROM tags WHERE tag_lower = ?", (name.lower(),)).fetchone()

    def insert_tag(self, name, tag_type, description, tag_id=None):
        tag_id = tag_id or self.next_id("tag")
        self.db.execute(
            "INSERT INTO tags (id, tag, tag_lower, tag_type, description, cdate) VALUES (?, ?, ?, ?, ?, ?)",
            (tag_id, name, name.lower(), tag_type, description, now_text()))
        return self.get_tag(tag_id)

    def contact_tags_for(self, contact_id):
        return self.db.execute(
            "SELECT * FROM contact_tags WHERE contact_id = ? ORDER BY id", (contact_id,)).fetchall()

    def get_contact_tag(self, contact_tag_id):
        return self.db.execute("SELECT * FROM contact_tags WHERE id = ?", (contact_tag_id,)).fetchone()

    def find_contact_tag(self, contact_id, tag_id):
        return self.db.execute(
            "SELECT * FROM contact_tags WHERE contact_id = ? AND tag_id = ?", (contact_id, tag_id)).fetchone()

    def insert_contact_tag(self, contact_id, tag_id):
        contact_tag_id = self.next_id("contact_tag")
        self.db.execute(
            "INSERT INTO contact_tags (id, contact_id, tag_id, cdate) VALUES (?, ?, ?, ?)",
            (contact_tag_id, contact_id, tag_id, now_text()))
        return self.get_contact_tag(contact_tag_id)

    def delete_contact_tag(self, contact_tag_id):
        self.db.execute("DELETE FROM contact_tags WHERE id = ?", (contact_tag_id,))

    # -- lists -------------------------------------------------------------

    def all_lists(self):
        return self.db.execute("SELECT * FROM lists ORDER BY id").fetchall()

    def get_list(self, list_id):
        return self.db.execute("SELECT * FROM lists WHERE id = ?", (list_id,)).fetchone()

    def find_list_by_stringid_ci(self, stringid):
        return self.db.execute("SELECT * FROM lists WHERE lower(stringid) = lower(?)", (stringid,)).fetchone()

    def insert_list(self, name, stringid, sender_url="", sender_reminder="", list_id=None):
        list_id = list_id or self.next_id("list")
        self.db.execute(
            "INSERT INTO lists (id, name, stringid, cdate, sender_url, sender_reminder) VALUES (?, ?, ?, ?, ?, ?)",
            (list_id, name, stringid, now_text(), sender_url, sender_reminder))
        return self.get_list(list_id)

    def list_groups_for(self, list_id):
        return self.db.execute("SELECT * FROM list_groups WHERE list_id = ? ORDER BY id", (list_id,)).fetchall()

    def find_list_group(self, list_id, group_id):
        return self.db.execute(
            "SELECT * FROM list_groups WHERE list_id = ? AND group_id = ?", (list_id, group_id)).fetchone()

    def insert_list_group(self, list_id, group_id):
        row_id = self.next_id("list_group")
        self.db.execute("INSERT INTO list_groups (id, list_id, group_id, cdate) VALUES (?, ?, ?, ?)",
                        (row_id, list_id, group_id, now_text()))
        return self.db.execute("SELECT * FROM list_groups WHERE id = ?", (row_id,)).fetchone()

    def contact_lists_for(self, contact_id):
        return self.db.execute(
            "SELECT * FROM contact_lists WHERE contact_id = ? ORDER BY id", (contact_id,)).fetchall()

    def find_contact_list(self, contact_id, list_id):
        return self.db.execute(
            "SELECT * FROM contact_lists WHERE contact_id = ? AND list_id = ?", (contact_id, list_id)).fetchone()

    def set_contact_list(self, contact_id, list_id, status, sourceid=0):
        """Create or update the contact's membership of the list; return its row.

        A membership that already has ``status`` is left untouched: its
        ``udate`` is the time its status last changed, which
        ``GET /contacts?listid=&filters[updated_after]=`` compares.
        """
        now = now_text()
        existing = self.find_contact_list(contact_id, list_id)
        if existing and existing["status"] == status:
            return existing
        if existing:
            self.db.execute(
                "UPDATE contact_lists SET status = ?, sourceid = ?, udate = ? WHERE id = ?",
                (status, sourceid, now, existing["id"]))
            row_id = existing["id"]
        else:
            row_id = self.next_id("contact_list")
            self.db.execute(
                "INSERT INTO contact_lists (id, contact_id, list_id, status, sourceid, sdate, udate) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (row_id, contact_id, list_id, status, sourceid, now, now))
        return self.db.execute("SELECT * FROM contact_lists WHERE id = ?", (row_id,)).fetchone()

    def subscribed_lists(self, contact_id, status):
        """The contact's memberships with ``status``, with each list's ``stringid``, by membership id."""
        return self.db.execute(
            "SELECT m.*, l.stringid FROM contact_lists m JOIN lists l ON l.id = m.list_id "
            "WHERE m.contact_id = ? AND m.status = ? ORDER BY m.id", (contact_id, status)).fetchall()

    # -- webhooks ----------------------------------------------------------

    def insert_webhook(self, name, url, events, sources, listid):
        webhook_id = self.next_id("webhook")
        self.db.execute(
            "INSERT INTO webhooks (id, name, url, events, sources, listid, cdate) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (webhook_id, name, url, json.dumps(events), json.dumps(sources), listid, now_text()))
        return self.get_webhook(webhook_id)

    def get_webhook(self, webhook_id):
        return self.db.execute("SELECT * FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()

    def all_webhooks(self):
        return self.db.execute("SELECT * FROM webhooks ORDER BY id").fetchall()

    def delete_webhook(self, webhook_id):
        self.db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))

    def deactivate_webhook(self, webhook_id):
        """What AC does when a delivery is answered 410: the webhook stays, and hears nothing more."""
        self.db.execute("UPDATE webhooks SET active = 0 WHERE id = ?", (webhook_id,))

    # -- bulk import batches ----------------------------------------------

    def insert_batch(self, batch_id, contacts, queued_at, due_at, outcome):
        """Queue a batch; ``outcome`` (the ``bulk_outcome`` fault when queued) decides how it ends."""
        self.db.execute(
            "INSERT INTO bulk_batches (id, status, contacts, queued_at, due_at, outcome) VALUES (?, ?, ?, ?, ?, ?)",
            (batch_id, PENDING, json.dumps(contacts), queued_at, due_at, outcome))

    def get_batch(self, batch_id):
        return self.db.execute("SELECT * FROM bulk_batches WHERE id = ?", (batch_id,)).fetchone()

    def mark_batch_seen(self, batch_id):
        self.db.execute("UPDATE bulk_batches SET info_seen = 1 WHERE id = ?", (batch_id,))

    def due_batches(self, now):
        """Pending batches whose delay has passed; a batch meant ``never`` to finish is never due."""
        return self.db.execute(
            "SELECT * FROM bulk_batches WHERE status = ? AND outcome != 'never' AND due_at <= ? ORDER BY due_at",
            (PENDING, now)).fetchall()

    def finish_batch(self, batch_id, status, success_ids, failure_emails):
        self.db.execute(
            "UPDATE bulk_batches SET status = ?, success = ?, failure = ? WHERE id = ?",
            (status, json.dumps(success_ids), json.dumps(failure_emails), batch_id))

    # The importer writes a whole row at once: what set_field_value and
    # insert_contact_tag do for each value and tag, in a few statements.

    def set_field_values(self, contact_id, values, now):
        """Create or overwrite the contact's values of several fields, ``{field id: value}``."""
        held = dict(self.db.execute(
            "SELECT field_id, id FROM field_values WHERE contact_id = ?", (contact_id,)).fetchall())
        self.db.executemany("UPDATE field_values SET value = ?, udate = ? WHERE id = ?",
                            [(value, now, held[field_id]) for field_id, value in values.items() if field_id in held])
        new = [(field_id, value) for field_id, value in values.items() if field_id not in held]
        if new:
            first = self.next_id("field_value", len(new)) - len(new) + 1
            self.db.executemany(
                "INSERT INTO field_values (id, contact_id, field_id, value, cdate, udate) VALUES (?, ?, ?, ?, ?, ?)",
                [(first + n, contact_id, field_id, value, now, now) for n, (field_id, value) in enumerate(new)])

    def attach_tags(self, contact_id, tag_ids, now):
        """Attach those of ``tag_ids`` the contact does not have yet."""
        held = {row[0] for row in self.db.execute("SELECT tag_id FROM contact_tags WHERE contact_id = ?",
                                                  (contact_id,))}
        new = [tag_id for tag_id in dict.fromkeys(tag_ids) if tag_id not in held]
        if new:
            first = self.next_id("contact_tag", len(new)) - len(new) + 1
            self.db.executemany("INSERT INTO contact_tags (id, contact_id, tag_id, cdate) VALUES (?, ?, ?, ?)",
                                [(first + n, contact_id, tag_id, now) for n, tag_id in enumerate(new)])

    # -- whole-state views for the control API and the HTML page -----------

    def dump_contacts(self):
        """Every contact with its values by perstag, tag names and list statuses."""
        perstags = {row["id"]: row["perstag"] for row in self.db.execute("SELECT id, perstag FROM fields")}
        tag_names = {row["id"]: row["tag"] for row in self.db.execute("SELECT id, tag FROM tags")}
        stringids = {row["id"]: row["stringid"] for row in self.db.execute("SELECT id, stringid FROM lists")}
        contacts = []
        for row in self.db.execute("SELECT * FROM contacts ORDER BY id").fetchall():
            excluded = row["automations_excluded"]
            contacts.append({
                "id": str(row["id"]),
                "email": row["email"],
                "firstName": row["first_name"],
                "lastName": row["last_name"],
                "phone": row["phone"],
                "fields": {perstags[v["field_id"]]: v["value"] for v in self.field_values_for(row["id"])},
                "tags": [tag_names[t["tag_id"]] for t in self.contact_tags_for(row["id"])],
                "lists": {stringids[m["list_id"]]: m["status"] for m in self.contact_lists_for(row["id"])},
                "created": row["cdate"],
                "updated": row["udate"],
                "automations_excluded": None if excluded is None else bool(excluded),
            })
        return contacts

    def catalog(self):
        """Fields (with option values and labels, and relids), tags, and lists (with group ids)."""
        fields = self.db.execute("SELECT * FROM fields ORDER BY id").fetchall()
        options, relations, groups = {}, {}, {}
        for option in self.db.execute("SELECT * FROM field_options ORDER BY field_id, orderid"):
            options.setdefault(option["field_id"], []).append(option)
        for rel in self.db.execute("SELECT * FROM field_rels ORDER BY id"):
            relations.setdefault(rel["field_id"], []).append(str(rel["relid"]))
        for group in self.db.execute("SELECT * FROM list_groups ORDER BY id"):
            groups.setdefault(group["list_id"], []).append(str(group["group_id"]))
        return {
            "fields": [{"id": str(f["id"]), "title": f["title"], "perstag": f["perstag"], "type": f["type"],
                        "options": [o["value"] for o in options.get(f["id"], [])],
                        "option_labels": [o["label"] for o in options.get(f["id"], [])],
                        "relations": relations.get(f["id"], [])} for f in fields],
            "tags": [{"id": str(t["id"]), "name": t["tag"]} for t in self.all_tags()],
            "lists": [{"id": str(l["id"]), "name": l["name"], "stringid": l["stringid"],
                       "groups": groups.get(l["id"], [])} for l in self.all_lists()],
        }
