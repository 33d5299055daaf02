"""The burst switch: when more new people wait than the per-person path
can clear soon, they go to the CRM's bulk importer instead, by themselves.

The per-person path costs a new contact about four requests at the
account's rate (AC: 5 a second), so it clears about one new person a
second; the importer takes 250 people a request but needs some seconds to
import them. The worker that picks up a fresh row decides (`hand_over`),
from what it measures:

    per-person drain = people not in the CRM yet (queued, running, or in a
                       burst import) × 4 requests (a new contact's)
                       ÷ the per-person share of the account's rate
    bulk             = how long the CRM's recent imports took (ImportBatch,
                       queued to completed) + BURST_COLLECT_SECONDS

and hands the row over when the drain would take longer. Only people the
CRM has never received from us go that way, on their first attempt, from a
save or the reconciler: anyone already in the CRM (an update, an email
change, an opt-out) and every retry, staff retry or erasure stays on the
per-person path, which keeps its sub-second latency for them.

A handed-over row stays `queued` with `lane="bulk"`. The drain task
(`drain`) claims such rows 250 at a time, builds the same payload the live
sync would (only what changed, no blank writes, option values as the
account holds them, tags and the list in the same request), and sends
them; a person the importer cannot carry goes back to the per-person path.
The poll task (`poll`) asks the CRM about the oldest batch until all are
imported, and closes each person's row as the resync does (importer.py),
with the batch id on it. What fails is retried per person as a next
attempt. Nothing waits on one process: a drain or poll message lost, or a
worker killed mid-batch, is picked up by beat (`poll_resync_batches`) and
the sweeps (docs/performance.md, "Bursts").
"""
import logging
import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .attempts import is_paused
from .breaker import CircuitBreaker
from .conf import ac_account, crm_setting
from .connection import make_backend
from .importer import MAX_BATCH_SIZE, BulkSender, Batch, Tally, open_batches, update_each
from .limiter import RateLimitWait, Share
from .mapping import crm_mapping
from .models import ContactState, ErasureReceipt, ImportBatch, SyncLog
from .outbox import dispatch
from .publisher import Publisher
from .resync import BULK, route
from .shared_state import backend as shared_state
from .sync import plan

logger = logging.getLogger(__name__)
Status, Lane = SyncLog.Status, SyncLog.Lane

DRAIN_LOCK, POLL_LOCK = "burst:drain", "burst:poll"
DECISION = "burst:decision"     # the latest decision, for the status command and the bench
KICKED = "burst:kicked"
POLL_DUE = "burst:poll_due"     # when the next poll message is due
# A drain or poll killed with its worker frees its lock after this long; a
# drain hands on to the next one after half of it.
LOCK_TTL = 30.0
POLL_EVERY = 2.0
NEW_WAIT = 1.0                  # a new person waiting for a per-person slot looks again after this
# Triggers whose fresh rows may go in bulk: a badge or profile saved, or the reconciler.
BULKABLE_TRIGGERS = (SyncLog.Trigger.SIGNAL, SyncLog.Trigger.RECONCILE)
# What a new contact costs one by one: the contact, its list and two tags
# (docs/activecampaign.md). The backlog judged is new people's.
CALLS_PER_NEW_PERSON = 4.0

drain_publisher = Publisher("crm_sync.tasks.drain_burst", "bulk drain")
poll_publisher = Publisher("crm_sync.tasks.poll_burst", "bulk poll")


@dataclass
class Decision:
    bulk: bool
    backlog: int                 # people waiting to reach the CRM (decide)
    drain_seconds: float         # their projected time on the per-person path
    bulk_seconds: float          # an import's measured time, plus collecting
    imports_measured: int        # how many recent imports that figure comes from


# -- deciding ----------------------------------------------------------------------
def decide(account_url):
    """Whether the backlog clears sooner through the bulk importer."""
    # Everyone not in the CRM yet: queued, being synced one by one, or in a
    # burst import still importing. Counting the last keeps a burst in bulk
    # right after a drain has emptied the queue: the next arrivals would
    # otherwise look like a trickle and spend the account's rate one by one,
    # the rate the edits of people already in the CRM wait for.
    backlog = SyncLog.objects.filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, batch_id="")
                                     | Q(status=Status.RUNNING, lane=Lane.BULK)).count()
    drain = backlog * CALLS_PER_NEW_PERSON / per_person_rate()
    import_seconds, measured = recent_import_seconds(account_url)
    bulk_seconds = import_seconds + crm_setting("BURST_COLLECT_SECONDS")
    return Decision(drain > bulk_seconds, backlog, round(drain, 1), round(bulk_seconds, 1), measured)


def recent_import_seconds(account_url):
    """(median seconds from queued to completed of the CRM's last imports,
    how many); BURST_IMPORT_SECONDS until one has been measured."""
    recent = (ImportBatch.objects.filter(account_url=account_url, status=ImportBatch.Status.COMPLETED)
              .order_by("-completed_at")[:5])
    times = [batch.import_seconds for batch in recent]
    if not times:
        return crm_setting("BURST_IMPORT_SECONDS"), 0
    return statistics.median(times), len(times)


def per_person_rate():
    """Requests a second the decision counts on for the per-person path."""
    return crm_setting("RATE_LIMIT_PER_SECOND") * (1.0 - crm_setting("BURST_BULK_SHARE"))


def new_at_once():
    """New people synced one by one at the same time, at most: as many as
    the account's rate serves in a second, and BURST_NEW_AT_ONCE at least."""
    return max(crm_setting("BURST_NEW_AT_ONCE"), math.ceil(per_person_rate() / CALLS_PER_NEW_PERSON))


def latest_decision():
    """The last decision taken, as a dict with its time, or None."""
    return shared_state().get_state(DECISION)


# -- handing over (the worker, before it claims a row) -----------------------------------
def hand_over(log_id):
    """True if the worker leaves the row for now: it waits for the bulk
    importer (it is fresh, its person new to the CRM, and the backlog
    clears sooner in bulk), or for one of the few per-person slots kept for
    new people (BURST_NEW_AT_ONCE). A row handed over earlier is handed
    over again (its drain message may be lost)."""
    if not crm_setting("BURST_SWITCH") or is_paused():
        return False
    row = (SyncLog.objects.filter(pk=log_id, status=Status.QUEUED, attempt=1, batch_id="",
                                  trigger__in=BULKABLE_TRIGGERS, user__isnull=False)
           .values("user_id", "lane").first())
    if row is None:
        return False
    if row["lane"] == Lane.BULK:
        kick()
        return True
    if row["lane"] == Lane.SINGLE:
        return False  # decided per person already (or sent back by a drain)
    account_url = ac_account()[0]
    if ContactState.objects.filter(user_id=row["user_id"], account_url=account_url, sent__isnull=False).exists():
        return False  # known to the CRM: an update is one or two requests, per person
    decision = decide(account_url)
    shared_state().set_state(DECISION, {**asdict(decision), "at": time.time()})
    if decision.bulk:
        reason = (f"waiting for the bulk importer: {decision.backlog} queued would take about "
                  f"{decision.drain_seconds:.0f} s one by one, an import about {decision.bulk_seconds:.0f} s")
        undecided = SyncLog.objects.filter(pk=log_id, status=Status.QUEUED, lane=Lane.UNDECIDED)
        if undecided.update(lane=Lane.BULK, error_message=reason):
            kick()
            return True
        return False
    # One by one, but only a few new people at once: the account's rate lets
    # no more through anyway, and the other workers stay free for the
    # people already in the CRM (their edits keep a sub-second latency).
    at_once = new_at_once()
    if SyncLog.objects.filter(status=Status.RUNNING, lane=Lane.SINGLE).count() >= at_once:
        SyncLog.objects.filter(pk=log_id, status=Status.QUEUED).update(
            error_message=f"waiting: {at_once} new people are being synced one by one already")
        dispatch(log_id, countdown=NEW_WAIT)
        return True
    SyncLog.objects.filter(pk=log_id, status=Status.QUEUED, lane=Lane.UNDECIDED).update(lane=Lane.SINGLE)
    return False


def kick():
    """Make sure a drain runs soon: at most one message per collecting window."""
    collect = crm_setting("BURST_COLLECT_SECONDS")
    state = shared_state()
    kicked = state.get_state(KICKED)
    if kicked and time.time() - kicked.get("at", 0) < collect:
        return
    state.set_state(KICKED, {"at": time.time()})
    drain_publisher.dispatch(0, countdown=collect or None)


def kick_if_waiting():
    """Beat: a drain for rows left waiting (a lost message, a drain that died)."""
    if SyncLog.objects.filter(status=Status.QUEUED, lane=Lane.BULK).exists():
        drain_publisher.dispatch(0)
    if open_batches(ac_account()[0]):
        poll_publisher.dispatch(0)


# -- draining (a task) --------------------------------------------------------------------
def drain(task_id=""):
    """Send the rows waiting for the bulk importer, 250 a request, until none
    wait. One drain at a time; the poll task finishes the batches."""
    if is_paused():
        return 0
    lock = shared_state().acquire_lock(DRAIN_LOCK, LOCK_TTL)
    if lock is None:
        return 0  # another drain is running; it takes these rows too
    account_url = ac_account()[0]
    sent = 0
    try:
        if CircuitBreaker(account_url).state()["state"] == "open":
            drain_publisher.dispatch(0, countdown=crm_setting("BREAKER_RESET_SECONDS"))
            return 0
        # Within half the lock's life; a drain with more to do hands on to the next.
        stop_at = time.monotonic() + LOCK_TTL / 2
        with _bulk_sender(account_url) as sender:
            try:
                while time.monotonic() < stop_at and (rows := claim(task_id)):
                    _add(sender, rows, account_url)
                    sender.flush()
                    sent += len(rows)
            except RateLimitWait:
                # The burst's share of the rate is spoken for: what this drain
                # claimed and did not send waits for the next drain (below).
                _back_to_bulk(_claimed_unsent(task_id))
            except Exception:
                # A refused key, a bug: whoever this drain claimed and did not send goes one by one.
                logger.exception("crm_sync: bulk drain stopped; its unsent rows go to the per-person path")
                _back_to_single(_claimed_unsent(task_id))
                raise
        if time.monotonic() >= stop_at:
            drain_publisher.dispatch(0)
        if sender.in_flight:
            schedule_poll(account_url)
    finally:
        shared_state().release_lock(DRAIN_LOCK, lock)
    if SyncLog.objects.filter(status=Status.QUEUED, lane=Lane.BULK).exists():
        # Handed over after this drain's last claim, their kick swallowed by the window: another drain.
        drain_publisher.dispatch(0, countdown=crm_setting("BURST_COLLECT_SECONDS") or None)
    return sent


def claim(task_id, size=MAX_BATCH_SIZE):
    """Up to `size` rows waiting for the bulk importer, oldest first, marked
    `running` by this drain (other drains skip locked rows)."""
    with transaction.atomic():
        rows = list(SyncLog.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(status=Status.QUEUED, lane=Lane.BULK).select_related("user").order_by("pk")[:size])
        now = timezone.now()
        for row in rows:
            row.status, row.started_at, row.task_id = Status.RUNNING, now, f"bulk:{task_id}"[:64]
            row.deliveries += 1
        update_each(SyncLog, rows, ("status", "started_at", "task_id", "deliveries"))
    return rows


@contextmanager
def _bulk_sender(account_url):
    """A BulkSender for burst batches, on a backend closed afterwards. Its
    requests (imports, polls, the catalog's lookups) take BURST_BULK_SHARE
    of the account's rate at most: the rest is the per-person path's, which
    the decision counts on and the edits of people in the CRM wait for."""
    tally = Tally()
    share = Share("burst", crm_setting("BURST_BULK_SHARE"), patience=LOCK_TTL / 2)
    crm = make_backend(share=share, on_request=tally.count_request)
    try:
        yield BulkSender(crm, account_url, tally, lane=ImportBatch.Lane.BURST)
    finally:
        crm.close()


def _add(sender, rows, account_url):
    """Each row to the sender, as the live sync would send its person; the
    rows the importer cannot carry back to the per-person path."""
    mapping = crm_mapping()
    people = [row.user for row in rows]
    pks = [person.pk for person in people]
    states = {state.user_id: state for state in ContactState.objects.filter(account_url=account_url,
                                                                             user_id__in=pks)}
    attendees = mapping.load_many(people)
    erased = set(ErasureReceipt.objects.filter(account_url=account_url, person_pk__in=[str(pk) for pk in pks])
                 .values_list("person_pk", flat=True))
    back = []
    for row, person in zip(rows, people):
        the_plan = plan(person, states.get(person.pk), mapping, fit=sender.backend.fit, attendee=attendees[person.pk],
                        erased=str(person.pk) in erased)
        where, _ = route(the_plan)
        bulk_person = (sender.person(person.pk, row.badge_id, the_plan.payload, exclude_automations=False, log=row)
                       if where == BULK else None)
        if bulk_person is not None and sender.fits(bulk_person):
            sender.add(bulk_person)
        else:
            back.append(row)
    _back_to_single(back)


def _claimed_unsent(task_id):
    """The rows the drain `task_id` claimed and has not sent in a batch."""
    return list(SyncLog.objects.filter(status=Status.RUNNING, task_id=f"bulk:{task_id}"[:64], batch_id=""))


def _back_to_bulk(rows):
    """Claimed rows that wait for the next drain after all."""
    for row in rows:
        row.status, row.task_id = Status.QUEUED, ""
    update_each(SyncLog, rows, ("status", "task_id"))


def _back_to_single(rows):
    """Rows the per-person path takes after all (nothing to send in bulk:
    not opted in, unchanged, too large): queued again, dispatched."""
    for row in rows:
        row.status, row.lane, row.task_id = Status.QUEUED, Lane.SINGLE, ""
    update_each(SyncLog, rows, ("status", "lane", "task_id"))
    for row in rows:
        dispatch(row.pk)


# -- polling (a task) ---------------------------------------------------------------------
def poll():
    """Ask the CRM about the oldest open batch, and the next while each is
    finished; poll again shortly while any is importing. One poll at a time."""
    lock = shared_state().acquire_lock(POLL_LOCK, LOCK_TTL)
    if lock is None:
        return
    account_url = ac_account()[0]
    try:
        batches = open_batches(account_url)
        if not batches:
            return
        with _bulk_sender(account_url) as sender:
            now = time.monotonic()
            sender.in_flight.extend(Batch(batch_id, size, now + LOCK_TTL, now) for batch_id, size in batches.items())
            try:
                sender.poll_finished()
            except RateLimitWait:
                pass  # the burst's share of the rate is spoken for: the next poll asks
    finally:
        shared_state().release_lock(POLL_LOCK, lock)
    if open_batches(account_url):
        schedule_poll(account_url)


def schedule_poll(account_url):
    """One poll message, for when the oldest batch should be about imported,
    POLL_EVERY from now at the soonest. None if a poll is due by then
    already: each poll schedules the next, so a batch costs about two polls
    however many drains asked. Beat's `kick_if_waiting` polls anyway,
    should a message be lost.

    "About imported" is POLL_EVERY before the recent imports' median: the
    median is measured up to the poll that saw each import done, so polling
    at the median itself would measure the next imports later and later.
    Until an import has been measured, every POLL_EVERY."""
    now = time.time()
    due = now + POLL_EVERY
    oldest = (ImportBatch.objects.filter(account_url=account_url, status=ImportBatch.Status.IN_FLIGHT)
              .order_by("queued_at").first())
    import_seconds, measured = recent_import_seconds(account_url)
    if oldest is not None and measured:
        due = max(due, oldest.queued_at.timestamp() + import_seconds - POLL_EVERY)
    state = shared_state()
    scheduled = state.get_state(POLL_DUE)
    if scheduled and now < scheduled["at"] <= due:
        return
    state.set_state(POLL_DUE, {"at": due})
    poll_publisher.dispatch(0, countdown=due - now)
