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

from .activecampaign.payloads import NotBulkable, bulk_contact, row_size
from .bulk import MAX_CONTACTS, BulkPerson, BulkSender, Tally, poll_open_batches
from .activecampaign.catalog import FIELD, LIST
from .attempts import Ran, run_attempt
from .catalog import DatabaseCatalogStore
from .conf import ac_account, crm_setting
from .connection import make_catalog, make_client
from .mapping import crm_mapping
from .models import ContactState, SyncLog
from .outbox import dispatch
from .sync import Action, Reason, plan

Status = SyncLog.Status
BULK_MINIMUM = 11        # AC: for 10 contacts or fewer use the contact API (API.md §7)
CHUNK = 500              # people read from the database at a time
MAX_RESCHEDULES = 30     # a one-by-one attempt waiting for the rate limit or the person's lock

# Where a person goes. The skip reasons are the live sync's own words.
BULK, ONE_BY_ONE, UNCHANGED, NOT_OPTED_IN, OTHER = "bulk", "one by one", "unchanged", "not opted in", "skipped"


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
    mapping = mapping or crm_mapping()
    start, end = day_bounds(options.since, options.until)
    people = records_confirmed_between(mapping, start, end, options.event)
    if options.failed_only:
        latest = SyncLog.objects.filter(user=OuterRef("pk")).order_by("-created_at", "-id").values("status")[:1]
        people = people.annotate(latest_attempt=Subquery(latest)).filter(latest_attempt=Status.FAILED)
    if options.missing:
        in_ac = ContactState.objects.filter(account_url=account_url, sent__isnull=False).values("user_id")
        people = people.filter(mapping.opted_in_filter()).exclude(pk__in=in_ac)
    importing = (SyncLog.objects.filter(status=Status.RUNNING, trigger=SyncLog.Trigger.RESYNC, user__isnull=False)
                 .exclude(batch_id="").values("user_id"))
    return people.exclude(pk__in=importing).order_by("pk"), people.filter(pk__in=importing)


def records_confirmed_between(mapping, start, end, event=""):
    """The people (a queryset) with a record still confirmed whose
    confirmation time is in [start, end), of one event if `event` is given."""
    confirmed_at = mapping.confirmed_at_field
    records = mapping.confirmed_records().filter(**{f"{confirmed_at}__gte": start, f"{confirmed_at}__lt": end})
    if event:
        by_event = mapping.event_filter(event)
        if by_event is None:
            raise ValueError("--event: this project's CrmMapping defines no events (event_filter)")
        records = records.filter(by_event)
    return mapping.person_model._default_manager.filter(pk__in=records.values(mapping.person_field))


def route(the_plan):
    """(where the person goes, why), following the live sync's plan; people
    the bulk importer cannot handle like the live sync go one by one."""
    if the_plan.action is Action.UNSUBSCRIBE:
        return ONE_BY_ONE, "opt-in withdrawn: to be unsubscribed"
    if the_plan.action is Action.NOTHING:
        if the_plan.reason is Reason.UNCHANGED:
            return UNCHANGED, str(the_plan.reason)
        if the_plan.reason in (Reason.NOT_OPTED_IN, Reason.ALREADY_UNSUBSCRIBED):
            return NOT_OPTED_IN, str(the_plan.reason)
        return OTHER, str(the_plan.reason)
    if the_plan.resubscribe:
        return ONE_BY_ONE, "opt-in renewed: the bulk importer never re-subscribes"
    if the_plan.email_changed:
        return ONE_BY_ONE, "email changed: the bulk importer matches by email and would make a second contact"
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
        self.mapping = crm_mapping()
        self.account_url = ac_account()[0]
        self.client = self.catalog = self.sender = None
        self.field_ids = {}
        self.list_id = None
        self.skipped_rows = []

    def stopping(self):
        return self.stop is not None and self.stop.is_set()

    def run(self):
        """Run and return the Summary. Raises CrmError subclasses for a
        configuration problem (bad key, missing field or list)."""
        options, summary = self.options, self.summary
        if options.dry_run:
            self.field_ids = DatabaseCatalogStore(self.account_url).ids(FIELD)
        else:
            summary.earlier = poll_open_batches(wait=options.poll_timeout, sleep=self.sleep)
        people, importing = select_people(options, self.account_url, self.mapping)
        summary.selected = people.count()
        summary.in_open_batches = importing.count()
        self.bulk = summary.selected >= BULK_MINIMUM if self.force_one_by_one is None else not self.force_one_by_one
        try:
            if not options.dry_run:
                self.client = make_client(patient=True, on_request=summary.count_request)
                self.catalog = make_catalog(self.client)
            self.sender = BulkSender(self.client, self.account_url, summary, batch_size=options.batch_size,
                                     poll_timeout=options.poll_timeout, sleep=self.sleep)
            if options.dry_run:
                self.sender.flush = self._count_dry_batch
            self._walk(people)
            self._finish()
        finally:
            self._write_skipped()
            if self.client is not None:
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
        the_plan = plan(user, state, self.mapping)
        payload = the_plan.payload
        where, reason = route(the_plan)
        email = payload.email if payload else (self.mapping.email_of(user) or "").strip().lower()
        badge_id = the_plan.record_id
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
            self._skip(user.pk, badge_id, email, where, reason, payload, the_plan.log_payload)

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
        self.field_ids.update(self.catalog.field_ids(missing))
        return self.field_ids

    def _list_id(self):
        if self.list_id is None:
            stringid = crm_setting("LIST_STRINGID")
            if self.options.dry_run:
                self.list_id = DatabaseCatalogStore(self.account_url).ids(LIST).get(stringid, stringid)
            else:
                self.list_id = self.catalog.list_id(stringid)
        return self.list_id

    def _skip(self, user_id, badge_id, email, where, reason, payload, log_payload=None):
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
            payload=log_payload,
        ))
        if len(self.skipped_rows) >= CHUNK:
            self._write_skipped()

    def _write_skipped(self):
        if self.skipped_rows and not self.options.dry_run:
            SyncLog.objects.bulk_create(self.skipped_rows)
        self.skipped_rows = []

    def _one_by_one(self, user_id, badge_id, email):
        """The live sync's own attempt, run here: one resync row, run_attempt on it."""
        log = SyncLog.objects.create(user_id=user_id, badge_id=badge_id, email=email, trigger=SyncLog.Trigger.RESYNC)
        ran = Ran()
        for _ in range(MAX_RESCHEDULES):
            ran = run_attempt(log.pk)
            follow_up = ran.follow_up
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
            reason = ran.outcome.reason if ran.outcome else None
            if reason is Reason.UNCHANGED:
                summary.skipped_unchanged += 1
            elif reason in (Reason.NOT_OPTED_IN, Reason.ALREADY_UNSUBSCRIBED):
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
