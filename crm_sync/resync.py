"""The resync: select people by when their badge was confirmed, decide for
each what the live sync would do, and send them through AC's bulk importer
(`bulk.py`) or one by one through the live sync itself (`sync.run_sync`).

The decision uses the live sync's own rules and its per-person record
(ContactState), so a person unchanged since their last success, by either
path, is skipped, and the live sync after a resync knows what AC holds.
"""
import datetime
import json
import time
from dataclasses import dataclass
from itertools import islice

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from .activecampaign.catalog import Catalog
from .bulk import (
    MAX_CONTACTS,
    BulkPerson,
    BulkSender,
    NotBulkable,
    Tally,
    bulk_contact,
    make_client,
    poll_open_batches,
    row_size,
)
from .conf import ac_account, crm_setting
from .mapping import build_contact_payload, mapping_module
from .models import CatalogEntry, ContactState, SyncLog
from .outbox import dispatch
from .sync import SUBSCRIBED, UNSUBSCRIBED, is_unchanged, run_sync

Status = SyncLog.Status
BULK_MINIMUM = 11        # AC: for 10 contacts or fewer use the contact API (API.md §7)
CHUNK = 500              # people read from the database at a time
MAX_RESCHEDULES = 30     # a one-by-one attempt waiting for the rate limit or the person's lock

# Where a person goes. The skip reasons are the live sync's own words.
BULK, ONE_BY_ONE, UNCHANGED, NOT_OPTED_IN, OTHER = "bulk", "one by one", "unchanged", "not opted in", "skipped"
UNCHANGED_REASON = "unchanged since the last successful sync"


@dataclass
class Options:
    since: datetime.date
    until: datetime.date
    event: str = ""
    failed_only: bool = False
    missing: bool = False
    dry_run: bool = False
    batch_size: int = MAX_CONTACTS
    run_automations: bool = False
    poll_timeout: float = 900.0


@dataclass
class Summary(Tally):
    """The run's counts; `sent`, `succeeded`, `failed` and `requests` cover both paths."""

    selected: int = 0
    in_open_batches: int = 0
    bulk_people: int = 0
    one_by_one: int = 0
    sent_one_by_one: int = 0
    skipped_unchanged: int = 0
    skipped_not_opted_in: int = 0
    skipped_other: int = 0
    handed_to_workers: int = 0
    not_reached: int = 0
    interrupted: bool = False
    dry_run: bool = False
    earlier: Tally = None          # batches of an earlier run, finished at the start of this one

    @property
    def nothing_failed(self):
        return not self.failed and not self.still_importing and not self.handed_to_workers \
            and not (self.earlier and (self.earlier.failed or self.earlier.still_importing))


def day_bounds(since, until):
    """[start, end) for two dates, both inclusive, in the project's time zone."""
    zone = timezone.get_default_timezone()
    start = datetime.datetime.combine(since, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(until + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
    return start, end


def select_people(options, account_url, mapping=None):
    """(people to resync, people still in a bulk batch AC is importing):
    user querysets, the first ordered by pk for streaming."""
    mapping = mapping or mapping_module()
    start, end = day_bounds(options.since, options.until)
    people = mapping.resync_people(start, end, options.event or None)
    if options.failed_only:
        latest = SyncLog.objects.filter(user=OuterRef("pk")).order_by("-created_at", "-id").values("status")[:1]
        people = people.annotate(latest_attempt=Subquery(latest)).filter(latest_attempt=Status.FAILED)
    if options.missing:
        in_ac = ContactState.objects.filter(account_url=account_url, sent__isnull=False).values("user_id")
        people = people.filter(mapping.opted_in_filter()).exclude(pk__in=in_ac)
    importing = (SyncLog.objects.filter(status=Status.RUNNING, trigger=SyncLog.Trigger.RESYNC, user__isnull=False)
                 .exclude(batch_id="").values("user_id"))
    return people.exclude(pk__in=importing).order_by("pk"), people.filter(pk__in=importing)


def route(attendee, state, opted_in, payload):
    """(where the person goes, why), following the live sync's rules; people
    the bulk importer cannot handle like the live sync go one by one."""
    if not attendee.badges:
        return OTHER, "no confirmed badge"
    list_status = state.list_status if state else None
    if not opted_in:
        if list_status == SUBSCRIBED:
            return ONE_BY_ONE, "opt-in withdrawn: to be unsubscribed"
        if list_status == UNSUBSCRIBED:
            return NOT_OPTED_IN, "opt-in withdrawn; already unsubscribed, not updated"
        return NOT_OPTED_IN, "not opted in: not sent to AC"
    if list_status == UNSUBSCRIBED:
        return ONE_BY_ONE, "opt-in renewed: the bulk importer never re-subscribes"
    sent_email = (state.sent or {}).get("email") if state else None
    if sent_email and sent_email != payload.email:
        return ONE_BY_ONE, "email changed: the bulk importer matches by email and would make a second contact"
    if is_unchanged(state, payload):
        return UNCHANGED, UNCHANGED_REASON
    return BULK, ""


def _chunks(iterable, size):
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Resync:
    """One run. `stop` (a threading.Event) is set on the first Ctrl-C: the
    run finishes the batches already sent and returns. `echo(line)` prints
    the dry run's per-person lines, `note(line)` what the run waits for;
    `progress(done, total)` is called after each person."""

    def __init__(self, options, *, stop=None, echo=None, note=None, progress=None, one_by_one=None,
                 sleep=time.sleep):
        self.options = options
        self.stop = stop
        self.echo = echo or (lambda line: None)
        self.note = note or (lambda line: None)
        self.progress = progress or (lambda done, total: None)
        self.force_one_by_one = one_by_one
        self.sleep = sleep
        self.summary = Summary(dry_run=options.dry_run)
        self.mapping = mapping_module()
        self.account_url, self.api_key = ac_account()
        self.client = self.catalog = self.sender = None
        self.field_ids = {}
        self.list_id = None
        self.skipped_rows = []

    def stopping(self):
        return self.stop is not None and self.stop.is_set()

    def run(self):
        """Run and return the Summary. Raises ACError subclasses for a
        configuration problem (bad key, missing field or list)."""
        options, summary = self.options, self.summary
        if options.dry_run:
            self.field_ids = dict(CatalogEntry.objects.filter(
                account_url=self.account_url, kind=CatalogEntry.Kind.FIELD).values_list("key", "ac_id"))
        else:
            summary.earlier = poll_open_batches(wait=options.poll_timeout, sleep=self.sleep)
        people, importing = select_people(options, self.account_url, self.mapping)
        summary.selected = people.count()
        summary.in_open_batches = importing.count()
        self.bulk = summary.selected >= BULK_MINIMUM if self.force_one_by_one is None else not self.force_one_by_one
        try:
            if not options.dry_run:
                self.client = make_client(self.account_url, self.api_key)
                self.catalog = Catalog(self.client, self.account_url)
            self.sender = BulkSender(self.client, self.account_url, summary, batch_size=options.batch_size,
                                     poll_timeout=options.poll_timeout, sleep=self.sleep)
            if options.dry_run:
                self.sender.flush = self._count_dry_batch
            self._walk(people)
            self._finish()
        finally:
            self._write_skipped()
            if self.client is not None:
                summary.requests += len(self.client.recorder)
                self.client.close()
        return summary

    # -- per person ------------------------------------------------------
    def _walk(self, people):
        done = 0
        for chunk in _chunks(people.iterator(chunk_size=CHUNK), CHUNK):
            states = {state.user_id: state for state in ContactState.objects.filter(
                account_url=self.account_url, user_id__in=[user.pk for user in chunk])}
            for user in chunk:
                if self.stopping():
                    self.summary.interrupted = True
                    self.summary.not_reached = self.summary.selected - done
                    return
                self._person(user, states.get(user.pk))
                done += 1
                self.progress(done, self.summary.selected)

    def _person(self, user, state):
        attendee = self.mapping.load_attendee(user)
        opted_in = self.mapping.is_opted_in(user)
        payload = build_contact_payload(attendee, self.mapping) if attendee.badges and opted_in else None
        where, reason = route(attendee, state, opted_in, payload)
        email = payload.email if payload else (user.email or "").strip().lower()
        badge_id = attendee.latest.pk if attendee.latest else None
        if where == BULK and not self.bulk:
            where, reason = ONE_BY_ONE, "10 people or fewer: the live sync's path"
        if where == BULK:
            person = self._bulk_person(user, badge_id, payload)
            if person is None or not self.sender.fits(person):
                where, reason = ONE_BY_ONE, "too large or not expressible for the bulk importer"
        if self.options.dry_run:
            self._echo(where, reason, email, payload)
        if where == BULK:
            self.summary.bulk_people += 1
            self.sender.add(person)
        elif where == ONE_BY_ONE:
            self.summary.one_by_one += 1
            if self.options.dry_run:
                self.summary.sent += 1
                self.summary.sent_one_by_one += 1
            else:
                self._one_by_one(user.pk, badge_id, email)
        else:
            self._skip(user.pk, badge_id, email, where, reason, payload)

    def _bulk_person(self, user, badge_id, payload):
        try:
            row = bulk_contact(payload, self._field_ids(payload.fields), self._list_id(),
                               exclude_automations=not self.options.run_automations)
        except NotBulkable:
            return None
        return BulkPerson(user.pk, badge_id, payload, row, row_size(row))

    def _field_ids(self, perstags):
        missing = set(perstags) - set(self.field_ids)
        if not missing:
            return self.field_ids
        if self.options.dry_run:
            self.field_ids.update({perstag: perstag for perstag in missing - set(self.field_ids)})
            return self.field_ids
        if not self.catalog.fields_fresh:
            # Ids AC no longer knows would fail every row of every batch: read them once per run.
            self.catalog.refresh_fields()
        self.field_ids.update({perstag: info["id"] for perstag, info in self.catalog.fields(missing).items()})
        return self.field_ids

    def _list_id(self):
        if self.list_id is None:
            stringid = crm_setting("LIST_STRINGID")
            if self.options.dry_run:
                entry = CatalogEntry.objects.filter(account_url=self.account_url, kind=CatalogEntry.Kind.LIST,
                                                    key=stringid).first()
                self.list_id = entry.ac_id if entry else stringid
            else:
                self.list_id = self.catalog.list_id(stringid)
        return self.list_id

    def _skip(self, user_id, badge_id, email, where, reason, payload):
        if where == UNCHANGED:
            self.summary.skipped_unchanged += 1
        elif where == NOT_OPTED_IN:
            self.summary.skipped_not_opted_in += 1
        else:
            self.summary.skipped_other += 1
        if self.options.dry_run:
            return
        now = timezone.now()
        self.skipped_rows.append(SyncLog(
            user_id=user_id, badge_id=badge_id, email=email, trigger=SyncLog.Trigger.RESYNC, status=Status.SKIPPED,
            error_message=reason, started_at=now, finished_at=now, account_url=self.account_url,
            warnings=payload.warnings if payload else [],
            payload={**payload.record(), "tags": payload.tags, "list_status": SUBSCRIBED} if payload else None,
        ))
        if len(self.skipped_rows) >= CHUNK:
            self._write_skipped()

    def _write_skipped(self):
        if self.skipped_rows and not self.options.dry_run:
            SyncLog.objects.bulk_create(self.skipped_rows)
        self.skipped_rows = []

    def _one_by_one(self, user_id, badge_id, email):
        """The live sync's own attempt, run here: one resync row, run_sync on it."""
        log = SyncLog.objects.create(user_id=user_id, badge_id=badge_id, email=email, trigger=SyncLog.Trigger.RESYNC)
        follow_up = None
        for _ in range(MAX_RESCHEDULES):
            follow_up = run_sync(log.pk)
            if follow_up is None or follow_up.log.pk != log.pk:
                break
            self.sleep(follow_up.countdown)  # rescheduled for the rate limit or the person's lock: wait here
        log.refresh_from_db()
        summary = self.summary
        summary.requests += log.api_calls
        if follow_up is not None:
            # A retry (the live sync's rules) or a row still waiting: the workers take it from here.
            dispatch(follow_up.log.pk, countdown=follow_up.countdown or None)
        if log.status in (Status.SUCCESS, Status.FAILED):
            summary.sent += 1
            summary.sent_one_by_one += 1
        if log.status == Status.SUCCESS:
            summary.succeeded += 1
        elif log.status == Status.FAILED:
            retry = f" (attempt {follow_up.log.attempt} queued for the workers)" if follow_up else ""
            summary.fail(log.email, log.error_category, log.error_message + retry)
        elif log.status == Status.SKIPPED:
            message = log.error_message.lower()
            if "unchanged" in message:
                summary.skipped_unchanged += 1
            elif "opted in" in message or "opt-in" in message:
                summary.skipped_not_opted_in += 1
            else:
                summary.skipped_other += 1
        else:
            summary.handed_to_workers += 1

    # -- the end ---------------------------------------------------------
    def _finish(self):
        sender, summary = self.sender, self.summary
        if self.stopping():
            summary.interrupted = True
            dropped = sender.drop_pending()
            summary.not_reached += dropped
            summary.bulk_people -= dropped
        else:
            sender.flush()
        if self.options.dry_run:
            # An estimate: each batch is polled at least once; one by one is
            # a contact/sync, a tag or two and the list, about four.
            summary.requests = 2 * summary.batches + 4 * summary.one_by_one
        else:
            if sender.in_flight:
                waiting = sum(batch.size for batch in sender.in_flight)
                self.note(f"waiting for AC to import {len(sender.in_flight)} batch(es), {waiting} people")
            sender.poll(block=True)

    # -- dry run ---------------------------------------------------------
    def _count_dry_batch(self):
        people, self.sender.pending, self.sender.pending_size = self.sender.pending, [], 0
        if people:
            self.summary.batches += 1
            self.summary.bulk_requests += 1
            self.summary.sent += len(people)

    def _echo(self, where, reason, email, payload):
        line = f"{where:<13} {email}"
        if reason:
            line += f"  ({reason})"
        if payload is not None and where in (BULK, ONE_BY_ONE):
            values = [f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in payload.contact.items()]
            values += [f"{perstag}{self._id_note(perstag)}={json.dumps(value, ensure_ascii=False)}"
                       for perstag, value in sorted(payload.fields.items())]
            values.append(f"tags={','.join(payload.tags)}")
            values.append(f"list={crm_setting('LIST_STRINGID')}")
            line += "\n    " + "\n    ".join(values)
        self.echo(line)

    def _id_note(self, perstag):
        ac_id = self.field_ids.get(perstag)
        return f"[{ac_id}]" if ac_id and ac_id != perstag else ""
