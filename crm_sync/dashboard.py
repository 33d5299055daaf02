"""The figures on the admin's CRM sync dashboard, each computed by an
aggregate query (docs/admin.md defines them).

Only the confirmation-to-AC times are loaded row by row, as pairs of
timestamps, because percentiles need the values themselves.

A "sync" is a chain of attempts for one person started by one trigger; its
first attempt is the row with `attempt=1`. Success means `success` or
`skipped` (nothing needed sending).
"""
import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from .conf import DASHBOARD_DAYS, ac_account, crm_setting
from .alerts import overview as alert_overview
from .connection import last_schema_report
from .mapping import crm_mapping
from .models import OPEN_STATUSES as OPEN
from .models import ContactState, SyncLog

Status = SyncLog.Status
WINDOWS = (
    ("Last 24 hours", timedelta(hours=24)), ("Last 7 days", timedelta(days=7)),
    (f"Last {DASHBOARD_DAYS} days", timedelta(days=DASHBOARD_DAYS)),
)
LONGEST_WINDOW = WINDOWS[-1][1]
DONE_WELL = (Status.SUCCESS, Status.SKIPPED)


def share(part, whole):
    """`part` of `whole` in percent, or None when there is nothing to divide."""
    return 100.0 * part / whole if whole else None


def percentile(sorted_values, p):
    """Nearest-rank percentile: the smallest value with at least p% of the
    values at or below it. Always one of the values; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def describe_seconds(seconds):
    """A duration as staff read it: "45 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    for unit, size, smaller, smaller_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if seconds >= size:
            rest = (seconds % size) // smaller_size
            return f"{seconds // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    return f"{seconds} s"


# -- the host project's records, as its CrmMapping defines them ---------------
def confirmed_badges():
    return crm_mapping().confirmed_records()


def _confirmed_at():
    return crm_mapping().confirmed_at_field


def _person_opted_in():
    mapping = crm_mapping()
    return mapping.opted_in_filter(prefix=f"{mapping.person_field}__")


def _success_after_confirmation():
    """Successful attempts that put the record's person into AC after the
    record was confirmed (a payload: not an unsubscribe), correlated to a record."""
    mapping = crm_mapping()
    return SyncLog.objects.filter(
        user=OuterRef(mapping.person_field),
        status=Status.SUCCESS,
        payload__isnull=False,
        finished_at__gte=OuterRef(mapping.confirmed_at_field),
    )


def _final_status():
    """The status of the person's latest finished attempt, correlated to a SyncLog row."""
    return Subquery(
        SyncLog.objects.filter(user=OuterRef("user")).finished()
        .order_by("-created_at", "-pk").values("status")[:1]
    )


# -- per window -------------------------------------------------------------
@dataclass
class TimeToAC:
    """Seconds from a badge's confirmation to its person's contact in AC."""

    count: int
    median: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of(cls, seconds):
        values = sorted(seconds)
        return cls(len(values), percentile(values, 50), percentile(values, 95), percentile(values, 99))

    @property
    def described(self):
        return {name: describe_seconds(getattr(self, name)) for name in ("median", "p95", "p99")}


@dataclass
class Window:
    label: str
    since: object
    attempts: int = 0
    syncs: int = 0             # first attempts that have finished
    in_progress: int = 0       # first attempts still queued or running
    first_attempt_ok: int = 0
    ok_in_the_end: int = 0
    time_to_ac: TimeToAC = None
    failures: dict = field(default_factory=dict)  # category label -> failed attempts, most first
    confirmed: int = 0
    opted_in: int = 0

    @property
    def first_attempt_rate(self):
        return share(self.first_attempt_ok, self.syncs)

    @property
    def final_rate(self):
        return share(self.ok_in_the_end, self.syncs)

    @property
    def opt_in_rate(self):
        return share(self.opted_in, self.confirmed)


def window(label, since, times_to_ac):
    """The figures of one window; `times_to_ac` are confirmation_to_ac()'s
    pairs for a period at least as long."""
    figures = Window(label, since)
    rows = SyncLog.objects.filter(created_at__gte=since)
    figures.attempts = rows.count()

    sync_counts = rows.filter(attempt=1).annotate(final=_final_status()).aggregate(
        in_progress=Count("pk", filter=Q(status__in=OPEN)),
        syncs=Count("pk", filter=~Q(status__in=OPEN)),
        first_attempt_ok=Count("pk", filter=Q(status__in=DONE_WELL)),
        ok_in_the_end=Count("pk", filter=~Q(status__in=OPEN) & Q(final__in=DONE_WELL)),
    )
    for name, value in sync_counts.items():
        setattr(figures, name, value)

    labels = dict(SyncLog.Category.choices)
    figures.failures = {
        labels.get(row["error_category"], row["error_category"] or "(none)"): row["n"]
        for row in rows.filter(status=Status.FAILED).values("error_category").annotate(n=Count("pk")).order_by("-n")
    }

    figures.time_to_ac = TimeToAC.of(seconds for confirmed, seconds in times_to_ac if confirmed >= since)

    badges = confirmed_badges().filter(**{f"{_confirmed_at()}__gte": since})
    counts = badges.aggregate(confirmed=Count("pk"), opted_in=Count("pk", filter=_person_opted_in()))
    figures.confirmed, figures.opted_in = counts["confirmed"], counts["opted_in"]
    return figures


def confirmation_to_ac(since):
    """(confirmed_at, seconds to AC) for every badge confirmed since `since`
    by an opted-in person whose contact has reached AC since."""
    confirmed_at = _confirmed_at()
    first_success = _success_after_confirmation().order_by("finished_at").values("finished_at")[:1]
    pairs = (
        confirmed_badges().filter(_person_opted_in(), **{f"{confirmed_at}__gte": since})
        .annotate(in_ac_at=Subquery(first_success))
        .filter(in_ac_at__isnull=False)
        .values_list(confirmed_at, "in_ac_at")
    )
    return [(confirmed, (in_ac - confirmed).total_seconds()) for confirmed, in_ac in pairs]


# -- now --------------------------------------------------------------------
@dataclass
class Backlog:
    """Confirmed badges of opted-in people whose contact has not reached AC since."""

    count: int
    oldest: object  # the earliest confirmation among them, or None


def backlog():
    confirmed_at = _confirmed_at()
    waiting = confirmed_badges().filter(_person_opted_in()).exclude(Exists(_success_after_confirmation()))
    oldest = waiting.order_by(confirmed_at).values_list(confirmed_at, flat=True).first()
    return Backlog(waiting.count(), oldest)


@dataclass
class FieldFill:
    name: str
    filled: int
    percent: float | None
    meets_target: bool


def field_completeness():
    """For each AC field in the mapping, the share of people synced to the
    configured account whose last successful sync sent it filled. crm_sync
    never sends an empty value, so a key that is there is a field filled."""
    mapping = crm_mapping()
    fields = [("contact", name) for name in mapping.contact]
    fields += [("fields", spec.perstag) for spec in mapping.fields]
    states = ContactState.objects.filter(sent__isnull=False)
    account_url = ac_account()[0]
    if account_url:
        states = states.filter(account_url=account_url)
    counts = states.aggregate(
        synced=Count("pk"),
        **{f"f{i}": Count("pk", filter=Q(**{f"sent__{part}__has_key": key})) for i, (part, key) in enumerate(fields)},
    )
    target = 100 * crm_setting("DASHBOARD_COMPLETENESS_TARGET")
    fills = []
    for i, (_, name) in enumerate(fields):
        percent = share(counts[f"f{i}"], counts["synced"])
        fills.append(FieldFill(name, counts[f"f{i}"], percent, percent is not None and percent >= target))
    return counts["synced"], fills


# -- day by day, for the charts ----------------------------------------------
@dataclass
class Day:
    day: object
    syncs: int = 0
    first_attempt_rate: float | None = None
    final_rate: float | None = None
    median_to_ac: float | None = None
    p95_to_ac: float | None = None


def daily(days, now, times_to_ac):
    """One Day per calendar day (local time) of the last `days` days, oldest
    first; `times_to_ac` are confirmation_to_ac()'s pairs for those days."""
    today = timezone.localdate(now)
    by_day = {today - timedelta(days=n): Day(today - timedelta(days=n)) for n in range(days - 1, -1, -1)}
    since = timezone.make_aware(datetime.combine(min(by_day), time.min))
    rows = (
        SyncLog.objects.filter(created_at__gte=since, attempt=1).finished()
        .annotate(final=_final_status(), day=TruncDate("created_at"))
        .values("day")
        .annotate(
            syncs=Count("pk"),
            first_ok=Count("pk", filter=Q(status__in=DONE_WELL)),
            final_ok=Count("pk", filter=Q(final__in=DONE_WELL)),
        )
        .order_by("day")
    )
    for row in rows:
        if row["day"] in by_day:
            day = by_day[row["day"]]
            day.syncs = row["syncs"]
            day.first_attempt_rate = share(row["first_ok"], row["syncs"])
            day.final_rate = share(row["final_ok"], row["syncs"])
    seconds_by_day = {}
    for confirmed, seconds in times_to_ac:
        seconds_by_day.setdefault(timezone.localdate(confirmed), []).append(seconds)
    for date, seconds in seconds_by_day.items():
        if date in by_day:
            times = TimeToAC.of(seconds)
            by_day[date].median_to_ac, by_day[date].p95_to_ac = times.median, times.p95
    return list(by_day.values())


# -- charts, as geometry for an inline SVG ------------------------------------
@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str


@dataclass
class Chart:
    width: int
    height: int
    left: int
    right: int
    bars: list
    gridlines: list  # (y, label)
    labels: list     # (x, text) under the bars


# The plot sits right of the axis labels, between margins that leave room for the outermost labels.
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 720, 180, 48, 20, 8, 20


def bar_chart(days, series, top, tick_label):
    """A grouped bar chart: for each day, one bar per (attribute, css class,
    description) in `series`, scaled so that `top` is the chart's height."""
    plot_width, plot_height = CHART_WIDTH - CHART_LEFT - CHART_RIGHT, CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    bottom = CHART_TOP + plot_height
    slot = plot_width / max(1, len(days))
    bar_width = max(1.0, (slot - 2) / len(series))
    bars, labels = [], []
    for n, day in enumerate(days):
        x = CHART_LEFT + n * slot
        for k, (attribute, css_class, description) in enumerate(series):
            value = getattr(day, attribute)
            if value is None:
                continue
            height = plot_height * min(value, top) / top if top else 0
            bars.append(Bar(
                round(x + 1 + k * bar_width, 1), round(bottom - height, 1), round(bar_width, 1),
                round(height, 1), css_class, f"{day.day:%d %b}: {description} {tick_label(value)}",
            ))
        if (len(days) - 1 - n) % 7 == 0:  # a label a week, the last day labelled
            labels.append((round(x + slot / 2, 1), f"{day.day:%d %b}"))
    gridlines = [(round(bottom - plot_height * f, 1), tick_label(top * f)) for f in (0, 0.5, 1)]
    return Chart(CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_WIDTH - CHART_RIGHT, bars, gridlines, labels)


def success_chart(days):
    return bar_chart(
        days,
        [("first_attempt_rate", "first", "at the first attempt"), ("final_rate", "final", "in the end")],
        100.0, lambda value: f"{value:.0f}%",
    )


def time_to_ac_chart(days):
    top = max([day.p95_to_ac or 0 for day in days] + [60.0])
    return bar_chart(
        days, [("median_to_ac", "median", "median"), ("p95_to_ac", "p95", "95th percentile")], top, describe_seconds,
    )


# -- all of it ---------------------------------------------------------------
def dashboard(now=None):
    """Everything the dashboard page shows, as of `now`."""
    now = now or timezone.now()
    # Read once: the last 30 days' times cover every window and every day of the charts.
    times_to_ac = confirmation_to_ac(now - LONGEST_WINDOW)
    days = daily(LONGEST_WINDOW.days, now, times_to_ac)
    synced, fills = field_completeness()
    windows = [window(label, now - length, times_to_ac) for label, length in WINDOWS]
    # Rows in the longest window's order (most failures first); it holds every cause the shorter ones do.
    failures = [(label, [w.failures.get(label, 0) for w in windows]) for label in windows[-1].failures]
    return {
        "now": now,
        "windows": windows,
        "failures": failures,
        "backlog": backlog(),
        "synced_people": synced,
        "field_fills": fills,
        "completeness_target": 100 * crm_setting("DASHBOARD_COMPLETENESS_TARGET"),
        "opt_in_target": 100 * crm_setting("DASHBOARD_OPT_IN_TARGET"),
        "success_chart": success_chart(days),
        "time_to_ac_chart": time_to_ac_chart(days),
        # The account against the mapping, as the last `crm_sync_schema` check found it (or None).
        "schema": last_schema_report(),
        # Alerts open now and those that ended in the last days (alerts.py): the history outlives the inbox.
        "alerts": alert_overview(now),
    }
