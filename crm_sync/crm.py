"""What the sync needs from a CRM: the seam a second CRM would plug into.

The sync decides *what* a contact should hold (sync.plan) and records each
attempt (attempts.py); a backend only carries that out against one CRM
account. AC's is the backend module of the AC package; a second CRM would
implement `CrmBackend` in a package of its own, raise the errors of
errors.py (retry later, fix the data, fix the configuration), and be built
by `connection.make_backend()`. Neither this module nor errors.py imports
Django, so a CRM package can use both and still stand alone.
"""
from dataclasses import dataclass, field
from typing import Protocol

# A contact's status on the list.
SUBSCRIBED, UNSUBSCRIBED = 1, 2


# -- what a CRM client is given: crm_sync hands it the account-wide rate
# limiter (limiter.py) and the circuit breaker (breaker.py), both shared by
# every worker; a test can give it anything with these methods.
# Why a breaker opens: AC is down (errors or timeouts in a row), or it
# refused the API key (401/403), which no retry will fix.
OUTAGE = "outage"
CONFIGURATION = "configuration"


class Limiter(Protocol):
    def wait_for_slot(self) -> None:
        """Return when a request may go out; may raise to say "not now"."""


class Breaker(Protocol):
    def before_request(self) -> bool:
        """Raise unless a request may go out. True when this request is the
        probe that tests whether AC is back."""

    def record_success(self) -> None:
        """AC answered (even with an error about the data): it is up."""

    def record_failure(self, reason: str, message: str, probe: bool = False) -> None:
        """AC did not answer usably; `reason` is OUTAGE or CONFIGURATION."""


@dataclass(frozen=True)
class Upserted:
    """A contact created or updated."""

    contact_id: str
    created: bool


@dataclass(frozen=True)
class ImportReport:
    """How a bulk import batch stands: `finished` once the CRM will do no more
    with it, with the emails it then reports as failed; `aborted` when it
    finished without importing (all of) it, so that every row is to be sent
    again; `status` is the CRM's own word."""

    finished: bool
    failed_emails: frozenset = field(default_factory=frozenset)
    status: str = ""
    aborted: bool = False


@dataclass(frozen=True)
class BulkLimits:
    """What a CRM's bulk importer takes: rows per request, and its own budgets
    of requests (apart from the account-wide rate), counted over `window` seconds."""

    max_rows: int
    multi_row_requests: int      # requests of two rows or more, per window
    single_row_requests: int     # requests of one row, per window
    window: float = 60.0


class CrmBackend(Protocol):
    """One CRM account. Every method raises the errors of the backend's
    package on failure; none of them retries on its own beyond a rate-limit wait."""

    account_url: str

    def fit(self, payload) -> None:
        """Make `payload` (a mapping.ContactPayload) hold its values as the
        account stores them (for AC: choices as option values), in place; a
        value the account cannot take is left out, with a warning appended
        to `payload.warnings`."""

    def upsert_contact(self, payload, *, contact_id="", previous_email="") -> Upserted:
        """Create or update the contact with every value of `payload` (a
        mapping.ContactPayload). With `contact_id` and a `previous_email`
        other than the payload's, the contact is updated by id, so an email
        change never makes a second contact; an email taken by another
        contact raises Conflict."""

    def find_contact(self, email) -> str:
        """The id of the contact with exactly this email, or ""."""

    def tags_of(self, contact_id, names) -> list:
        """Those of `names` the contact already has."""

    def add_tag(self, contact_id, name) -> None:
        """Attach a tag (created in the account if missing); one already
        attached counts as done. Raises ContactGone if the contact was deleted."""

    def set_list_status(self, contact_id, status, *, resubscribe=False) -> None:
        """Subscribe (SUBSCRIBED) or unsubscribe (UNSUBSCRIBED) the contact
        on the list named by `CRM_SYNC["LIST_STRINGID"]`."""

    # -- the bulk importer (crm_sync/importer.py) ------------------------------
    name: str                    # how messages name the CRM ("AC")
    bulk_limits: BulkLimits

    def bulk_row(self, payload, *, exclude_automations) -> dict:
        """The bulk importer's row for one contact, subscribed to the list.
        Raises errors.NotBulkable when the importer cannot carry it. Ids the
        CRM may have changed are read from it afresh for the first row of a
        backend (a resync run), then kept for the rows after."""

    def bulk_row_size(self, row) -> int:
        """What `row` adds to a bulk request, in the unit `bulk_fits` counts."""

    def bulk_fits(self, rows_size, count) -> bool:
        """Whether `count` rows of these summed sizes fit in one bulk request."""

    def bulk_import(self, rows) -> str:
        """Queue rows for import; returns the batch id. A rejection of the
        data raises errors.RowsRejected (naming the rows it can), the
        importer's own rate limit errors.BulkRateLimited."""

    def import_report(self, batch_id) -> ImportReport:
        """How a queued batch stands. Raises NotFound for a batch the CRM no longer knows."""

    def bulk_request_record(self, row) -> dict:
        """How one row's share of a bulk request is recorded in its SyncLog
        row's `requests` (method, path, a body holding that row alone); the
        status and answer are filled in when known."""

    def import_report_record(self, batch_id, report) -> dict:
        """How the poll that found the batch finished is recorded in each of its SyncLog rows."""

    def known_field_id(self, name) -> str:
        """The CRM's id for the custom field `name` if already looked up,
        without asking the CRM; "" otherwise (the dry run shows it)."""

    # -- erasure and subject access (crm_sync/erasure.py) ----------------------
    def erase(self, contact_id) -> bool:
        """Delete the contact from the account: True if the CRM deleted it
        now, False if it had no such contact (already erased). A cap on
        deletions the account has reached raises ConfigurationError."""

    def contact_snapshot(self, contact_id) -> dict:
        """Everything the account holds on one contact that crm_sync can
        read, for a subject access request: {"contact": the CRM's contact
        attributes, "field_values": [{"field", "perstag", "title", "value"}],
        "tags": [{"id", "name"}], "lists": [{"id", "stringid", "name",
        "status"}]}. Raises NotFound when the CRM has no such contact."""

    # -- what comes back: list status, changes, webhooks (crm_sync/pull.py, crm_webhooks) --
    def list_id(self) -> str:
        """The CRM's id for our list (`CRM_SYNC["LIST_STRINGID"]`)."""

    def list_status(self, contact_id) -> int | None:
        """The contact's status on our list as the CRM holds it now:
        SUBSCRIBED, UNSUBSCRIBED (a CRM's other statuses as it numbers them),
        or None when not on the list. Raises NotFound when the CRM has no
        such contact."""

    def changed_list_members(self, since):
        """Iterate over the contacts on our list whose status changed after
        `since` (aware datetime): dicts of "contact_id", "email", "status"
        (SUBSCRIBED or UNSUBSCRIBED), "changed_at" (aware datetime, at or
        after the change) and "list_id". May repeat a change already seen."""

    def webhooks(self) -> list:
        """The account's webhooks: dicts of "id", "name", "url" (it holds the
        receiver's token: never show it as is), "events", "sources", "list_id"."""

    def add_webhook(self, name, url, events, sources, list_id) -> str:
        """Register a webhook; returns its id."""

    def remove_webhook(self, webhook_id) -> None:
        """Delete a webhook; one already gone counts as removed."""

    def close(self) -> None:
        """Release the connection."""
