"""The resync: select people by when their badge was confirmed, decide for
each what the live sync would do, and send them through the CRM's bulk
importer (`importer.py`) or one by one through the live sync itself
(`attempts.run_attempt`). Both go through the CRM backend
(`connection.make_backend`); nothing here knows one CRM's API.

The decision uses the live sync's own rules and its per-person record
(ContactState), so a person unchanged since their last success, by either
path, is skipped, and the live sync after a resync knows what the CRM holds.
"""
import datetime
import json
import time
from dataclasses import dataclass

from django.db import reset_queries
from django.db.models import CharField, Exists, OuterRef, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from .attempts import Ran, run_attempt
from .conf import ac_account, crm_setting
from .connection import make_backend
from .importer import MAX_BATCH_SIZE, BulkSender, Tally, poll_open_batches
from .mapping import crm_mapping
from .models import ContactState, ErasureReceipt, SyncLog
from .outbox import dispatch
from .sync import Action, Reason, plan

Status = SyncLog.Status
BULK_MINIMUM = 11        # fewer go one by one (AC's advice: the contact API for 10 or fewer, docs/activecampaign.md §7)
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
    batch_size: int = MAX_BATCH_SIZE
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
    """(people to resync, people still in a bulk batch the CRM is importing):
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
    # Erased at their request: never sent again, and not even listed (a skipped row would keep their email).
    erased = ErasureReceipt.objects.filter(account_url=account_url, person_pk=Cast(OuterRef("pk"), CharField()))
    people = people.exclude(Exists(erased))
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


def _chunks_by_pk(people, size):
    """`people` (ordered by pk) `size` at a time. The selection is read once,
    as primary keys only (a few dozen bytes a person), and each chunk by its
    keys. So no cursor stays open while the run writes (on SQLite an open
    read keeps the write-ahead log from being checkpointed: it grew by every
    row written, ~800 MB by 100,000 people, and slowed every read), and no
    chunk evaluates the selection again (a query per chunk costs a pass
    over everyone selected: quadratic in the people)."""
    keys = list(people.values_list("pk", flat=True).iterator(chunk_size=4 * size))
    by_key = people.model._default_manager.order_by("pk")
    for start in range(0, len(keys), size):
        yield list(by_key.filter(pk__in=keys[start:start + size]))


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
        self.crm = self.sender = None
        self.skipped_rows = []

    def stopping(self):
        return self.stop is not None and self.stop.is_set()

    def run(self):
        """Run and return the Summary. Raises CrmError subclasses for a
        configuration problem (bad key, missing field or list); refused
        settings are raised before anything is read or written, `crm` None."""
        options, summary = self.options, self.summary
        # The account comes first, for the dry run too, refused alike: who is selected and
        # who is skipped depend on what was sent to it before (ContactState is per account).
        # The dry run's backend never contacts the CRM: rows from the ids already stored.
        self.crm = (make_backend(offline=True) if options.dry_run
                    else make_backend(patient=True, on_request=summary.count_request))
        try:
            if not options.dry_run:
                summary.earlier = poll_open_batches(wait=options.poll_timeout, sleep=self.sleep)
            people, importing = select_people(options, self.account_url, self.mapping)
            summary.selected = people.count()
            summary.in_open_batches = importing.count()
            self.bulk = (summary.selected >= BULK_MINIMUM if self.force_one_by_one is None
                         else not self.force_one_by_one)
            self.sender = BulkSender(self.crm, self.account_url, summary, batch_size=options.batch_size,
                                     poll_timeout=options.poll_timeout, sleep=self.sleep)
            if options.dry_run:
                self.sender.flush = self._count_dry_batch
            self._walk(people)
            self._finish()
        finally:
            self._write_skipped()
            self.crm.close()
        return summary

    # -- per person ------------------------------------------------------
    def _walk(self, people):
        done = 0
        for chunk in _chunks_by_pk(people, CHUNK):
            # A query per chunk, not per person: their state, records and erasures.
            pks = [user.pk for user in chunk]
            states = {state.user_id: state for state in ContactState.objects.filter(
                account_url=self.account_url, user_id__in=pks)}
            attendees = self.mapping.load_many(chunk)
            erased = set(ErasureReceipt.objects.filter(account_url=self.account_url,
                                                       person_pk__in=[str(pk) for pk in pks])
                         .values_list("person_pk", flat=True))
            for user in chunk:
                if self.stopping():
                    self.summary.interrupted = True
                    self.summary.not_reached = self.summary.selected - done
                    return
                self._person(user, states.get(user.pk), attendees[user.pk], str(user.pk) in erased)
                done += 1
                self.progress(done, self.summary.selected)
            # With DEBUG on, Django keeps every query's SQL until a request
            # ends, and a run is one long "request": its bulk inserts alone
            # would hold hundreds of MB by 100,000 people.
            reset_queries()

    def _person(self, user, state, attendee=None, erased=None):
        the_plan = plan(user, state, self.mapping, fit=self.crm.fit, attendee=attendee, erased=erased)
        payload = the_plan.payload
        where, reason = route(the_plan)
        email = payload.email if payload else (self.mapping.email_of(user) or "").strip().lower()
        badge_id = the_plan.record_id
        if where == BULK and not self.bulk:
            where, reason = ONE_BY_ONE, "10 people or fewer: the live sync's path"
        if where == BULK:
            person = self.sender.person(user.pk, badge_id, payload,
                                        exclude_automations=not self.options.run_automations)
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
                self.note(f"waiting for {self.crm.name} to import {len(sender.in_flight)} batch(es), {waiting} people")
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
        crm_id = self.crm.known_field_id(perstag)
        return f"[{crm_id}]" if crm_id else ""
