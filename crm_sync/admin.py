"""The Django admin for crm_sync: the SyncLog list and detail (read-only),
"Retry sync", the "what changed" audit view, the dashboard, and a mixin that
puts a person's CRM status on a host project's admin pages (docs/admin.md);
the erasure receipts, "Erase from AC" and "What AC holds" (erasure.py,
docs/security.md); the alerts' history (alerts.py); the bulk importer's
batches (importer.py, burst.py).

Every value from a person or from AC reaches the page through a template or
`format_html`, so it is escaped; nothing here marks user data safe.
"""
import json

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.timezone import localtime

from . import dashboard, inbox
from .alerts import describe_deliveries, summarise_deliveries
from .connection import check_schema, contact_url, last_schema_report
from .erasure import request_erasure, side_by_side, try_again, what_crm_holds
from .consent import consent_history, record_form_change
from .errors import CrmError
from .mapping import crm_mapping
from .models import Alert, ConsentRecord, ContactState, ErasureReceipt, ImportBatch, InboxEvent, Schema, SyncLog
from .outbox import queue_sync
from .status import named_failures, sync_status

HISTORY_LIMIT = 20
ROWS_NAMED = 5  # the rows a "Retry sync" message names
PERSON_CHARS = 24  # the longest person the SyncLog list shows whole, in characters
RETRY_PERMISSION = "crm_sync.retry_sync"
SCHEMA_PERMISSION = "crm_sync.change_schema"
# Requesting an erasure writes its receipt.
ERASE_PERMISSION = "crm_sync.add_erasurereceipt"
LIST_STATUS = {1: "subscribed", 2: "unsubscribed"}

# -- reading values for display ------------------------------------------------
def event_field():
    """The lookup from a SyncLog row to what its record is for (an event), or None."""
    event = crm_mapping().record_event_field
    return f"badge__{event}" if event else None


def shortened(text, limit):
    """`text` cut to `limit` characters, the last one "…" where it was cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def cut(value, limit):
    """`value` as text, cut to `limit` characters (the whole of it on hover),
    free to break after an "@": an email's two halves on two lines."""
    text = str(value)
    local, at, domain = shortened(text, limit).partition("@")
    return format_html('<span title="{}">{}{}<wbr>{}</span>', text, local, at, domain)


def pretty_json(value):
    """Indented JSON for a stored value."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def pretty_response(text):
    """AC's answer as stored (text, cut to LOG_BODY_LIMIT): indented if it
    parses as JSON, else as it is (HTML error pages, a cut-off body)."""
    if not text:
        return ""
    try:
        return pretty_json(json.loads(text))
    except (TypeError, ValueError):
        return str(text)


def request_entry(entry, unfold=False):
    """One logged AC request as the SyncLog detail shows it: folded unless it
    got no 2xx answer or `unfold` says otherwise."""
    status = entry.get("status")
    ok = isinstance(status, int) and 200 <= status < 300
    return {
        "method": entry.get("method"), "path": entry.get("path"), "status": status, "ms": entry.get("ms"),
        "open": unfold or not ok,
        "body": pretty_json(entry.get("body")) if entry.get("body") is not None else "",
        "response": pretty_response(entry.get("response")),
    }


def admin_change_url(obj):
    """The admin page of `obj`, or None if its model is not in the admin."""
    if obj is None:
        return None
    try:
        return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def attempts_url(person_id):
    return reverse("admin:crm_sync_synclog_changelist") + f"?user__id__exact={person_id}"


def changes_url(log):
    return reverse("admin:crm_sync_synclog_changes", args=[log.pk])


# -- "what changed" --------------------------------------------------------------
def payload_changes(old, new):
    """What differs between two SyncLog payloads, as (what, old value, new value)
    rows in a fixed order: email, contact fields, custom fields by perstag,
    tags, list status. With no old payload, everything in the new one is new."""
    old, new = old or {}, new or {}
    changes = []

    def compare(what, before, after):
        if before != after:
            changes.append((what, before, after))

    compare("Email", old.get("email"), new.get("email"))
    for part, title in (("contact", "Contact"), ("fields", "Field")):
        before, after = old.get(part) or {}, new.get(part) or {}
        for key in sorted(set(before) | set(after)):
            compare(f"{title} {key}", before.get(key), after.get(key))
    before_tags, after_tags = sorted(old.get("tags") or []), sorted(new.get("tags") or [])
    compare("Tags", ", ".join(before_tags) or None, ", ".join(after_tags) or None)
    compare("List status", LIST_STATUS.get(old.get("list_status"), old.get("list_status")),
            LIST_STATUS.get(new.get("list_status"), new.get("list_status")))
    return changes


def previous_success(log):
    """The person's successful attempt with a payload that finished before `log`."""
    if log.user_id is None or log.finished_at is None:
        return None
    return (
        SyncLog.objects.filter(user_id=log.user_id, status=SyncLog.Status.SUCCESS, payload__isnull=False)
        .filter(Q(finished_at__lt=log.finished_at) | Q(finished_at=log.finished_at, pk__lt=log.pk))
        .order_by("-finished_at", "-pk")
        .first()
    )


# -- retrying ------------------------------------------------------------------
def queue_retries(people_and_badges):
    """Queue one admin-triggered sync per distinct person, filed under the
    first badge given for them. Returns the SyncLog rows queued."""
    chosen = {}
    for person, badge in people_and_badges:
        if person is not None:
            chosen.setdefault(person.pk, (person, badge))
    # One transaction: the tasks are dispatched once every row is written.
    with transaction.atomic():
        return [queue_sync(person, badge, trigger=SyncLog.Trigger.ADMIN) for person, badge in chosen.values()]


def report_retries(model_admin, request, rows):
    """Say what was queued, naming the rows (up to ROWS_NAMED) so that staff can find them in the list."""
    if not rows:
        model_admin.message_user(request, "Nothing queued: none of them belongs to a person.", messages.WARNING)
        return
    named = "; ".join(map(str, rows[:ROWS_NAMED])) + ("; …" if len(rows) > ROWS_NAMED else "")
    model_admin.message_user(
        request, f"Queued a new sync for {len(rows)} {'person' if len(rows) == 1 else 'people'}: {named}.",
        messages.SUCCESS)


# -- a person's CRM status, for any admin page ------------------------------------
def person_panel(request, person, badge=None):
    """HTML for a person's CRM status: opt-in, AC contact and link, latest
    attempts, and a retry button for staff allowed to retry."""
    if person is None or not request.user.has_perm("crm_sync.view_synclog"):
        return ""
    history = list(
        SyncLog.objects.filter(user=person).select_related("badge").order_by("-created_at", "-pk")[:HISTORY_LIMIT]
    )
    states = [
        {"state": state, "url": contact_url(state.account_url, state.ac_contact_id)}
        for state in ContactState.objects.filter(user=person).order_by("-updated_at")
    ]
    return render_to_string("admin/crm_sync/person_panel.html", {
        "person": person,
        "opted_in": crm_mapping().is_opted_in(person),
        "history": [{"log": log, "url": admin_change_url(log),
                     "changes_url": changes_url(log) if log.status == SyncLog.Status.SUCCESS else None}
                    for log in history],
        "history_limit": HISTORY_LIMIT,
        "last": history[0] if history else None,
        "states": states,
        "all_attempts_url": attempts_url(person.pk),
        "can_retry": request.user.has_perm(RETRY_PERMISSION),
        "retry_url": reverse("admin:crm_sync_synclog_retry", args=[person.pk]),
        "badge": badge,
        "next": request.get_full_path(),
        **erasure_panel(request, person),
        "consents": consent_history(person, HISTORY_LIMIT),
        "bounce": inbox.bounce_of(person),
        "inbox_url": inbox_url(person.pk) if request.user.has_perm("crm_sync.view_inboxevent") else None,
    }, request=request)


class CrmStatusAdminMixin:
    """For a host project's ModelAdmin of people, or of things that belong to
    a person (a badge): the change page shows the person's CRM status and
    latest attempts with a "Retry sync" button, and `retry_crm_sync` is an
    action to list in `actions`. Override `crm_person` and `crm_badge` to
    say whose; by default the object is the person, filed under their latest
    confirmed badge."""

    change_form_template = "admin/crm_sync/change_form_with_crm.html"

    def crm_person(self, obj):
        return obj

    def crm_badge(self, obj):
        return crm_mapping().latest_confirmed(obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context["crm_sync_panel"] = person_panel(request, self.crm_person(obj), self.crm_badge(obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def has_retry_sync_permission(self, request):
        return request.user.has_perm(RETRY_PERMISSION)

    def save_model(self, request, obj, form, change):
        """Save, and when staff changed the person's opt-in, record it as a
        consent change made in the admin (crm_sync.consent)."""
        super().save_model(request, obj, form, change)
        if self.crm_person(obj) is obj:
            record_form_change(obj, form.changed_data, source=ConsentRecord.Source.ADMIN,
                               reason=f"changed by staff user {request.user.get_username()}")

    @admin.action(description="Retry CRM sync", permissions=["retry_sync"])
    def retry_crm_sync(self, request, queryset):
        queued = queue_retries((self.crm_person(obj), self.crm_badge(obj)) for obj in queryset)
        report_retries(self, request, queued)

    def has_erase_from_crm_permission(self, request):
        return request.user.has_perm(ERASE_PERMISSION)

    @admin.action(description="Erase from AC", permissions=["erase_from_crm"])
    def erase_from_crm(self, request, queryset):
        """After a confirmation page: erase each person's contact from the
        CRM; they stay here but are never synced again (erasure.py)."""
        people = list({person.pk: person for person in map(self.crm_person, queryset) if person is not None}.values())
        if request.POST.get("post") != "yes":
            return erase_confirmation(self, request, people, form_action="",
                                      selected=request.POST.getlist(ACTION_CHECKBOX_NAME))
        erase_people(self, request, people)
        return None


# -- SyncLog ---------------------------------------------------------------------
class RowsOfRecord:
    """The permissions of an admin for rows crm_sync writes and staff only
    read: no adding or editing; deleting for superusers; "retry" for staff
    with crm_sync.retry_sync."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_retry_sync_permission(self, request):
        return request.user.has_perm(RETRY_PERMISSION)


class History:
    """The permissions of an admin for a record crm_sync keeps and no one
    adds, edits or deletes, superusers included: the erasure receipts (the
    record that an erasure was asked for, and how it went), the alerts (the
    history outlives the inbox), the import batches (the burst switch and
    the failed-batch alert read them)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SyncLog)
class SyncLogAdmin(RowsOfRecord, admin.ModelAdmin):
    """Read-only: rows are the record of what happened. Only superusers may
    delete one (retention deletes old rows on its own)."""

    # Narrow enough for a 1280 px screen with the admin's sidebar and filters:
    # short headers, status and error in one column, long values cut (whole on hover).
    list_display = ("row", "created", "person", "trigger", "outcome", "attempt")
    list_display_links = ("row",)
    date_hierarchy = "created_at"
    change_list_template = "admin/crm_sync/synclog/change_list.html"
    change_form_template = "admin/crm_sync/synclog/change_form.html"
    actions = ["retry_selected"]
    readonly_fields = ("person_link", "badge_link", "other_attempts", "result", "what_changed", "took",
                       "payload_json", "warnings_json", "requests_json")
    fieldsets = (
        (None, {"fields": ("person_link", "email", "badge_link", "other_attempts", "trigger", "attempt", "status",
                           "error_category", "result", "what_changed")}),
        ("Times", {"fields": ("created_at", "dispatched_at", "not_before", "started_at", "finished_at", "took",
                              "retry_at", "redacted_at")}),
        ("CRM", {"fields": ("account_url", "ac_contact_id", "api_calls", "deliveries", "task_id",
                                       "lane", "batch_id")}),
        ("What crm_sync meant AC to hold", {"fields": ("payload_json", "warnings_json")}),
        ("Requests and AC's answers", {"fields": ("requests_json",)}),
    )

    # -- the list --------------------------------------------------------------
    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "badge")

    def get_list_filter(self, request):
        return ("status", "error_category", "trigger", *filter(None, [event_field()]), "created_at")

    def get_search_fields(self, request):
        mapping = crm_mapping()
        return ("email", *(f"user__{name}" for name in mapping.person_search_fields),
                *(f"badge__{name}" for name in mapping.record_search_fields))

    @admin.display(description="result")
    def result(self, log):
        """The row's message, named for what it is: AC's error on a failure,
        what was done on a success."""
        if not log.error_message:
            return "—"
        return f"Error: {log.error_message}" if log.status == SyncLog.Status.FAILED else log.error_message

    @admin.display(description="row", ordering="pk")
    def row(self, log):
        return log.pk

    @admin.display(description="created", ordering="created_at")
    def created(self, log):
        # As text, not a datetime: the admin would keep a datetime on one line.
        return date_format(localtime(log.created_at), "DATETIME_FORMAT")

    @admin.display(description="person", ordering="user__email")
    def person(self, log):
        return cut(log.user or log.email or "—", PERSON_CHARS)

    @admin.display(description="outcome", ordering="status")
    def outcome(self, log):
        if not log.error_category:
            return log.get_status_display()
        return format_html('{} <span title="{}">({})</span>', log.get_status_display(),
                           log.get_error_category_display(), log.error_category)

    @admin.display(description="duration")
    def took(self, log):
        return f"{log.duration.total_seconds():.2f} s" if log.duration else "—"

    # -- the detail --------------------------------------------------------------
    @admin.display(description="person")
    def person_link(self, log):
        url = admin_change_url(log.user)
        return format_html('<a href="{}">{}</a>', url, log.user) if url else (log.user or "—")

    @admin.display(description="badge")
    def badge_link(self, log):
        url = admin_change_url(log.badge)
        return format_html('<a href="{}">{}</a>', url, log.badge) if url else (log.badge or "—")

    @admin.display(description="other attempts")
    def other_attempts(self, log):
        if log.user_id is None:
            return "—"
        return format_html('<a href="{}">All attempts for this person</a>', attempts_url(log.user_id))

    @admin.display(description="what changed")
    def what_changed(self, log):
        if log.status != SyncLog.Status.SUCCESS:
            return "— (only for successful attempts)"
        return format_html('<a href="{}">What this attempt changed in AC</a>', changes_url(log))

    @admin.display(description="payload")
    def payload_json(self, log):
        return format_html('<pre class="crm-json">{}</pre>', pretty_json(log.payload))

    @admin.display(description="warnings")
    def warnings_json(self, log):
        return format_html('<pre class="crm-json">{}</pre>', pretty_json(log.warnings)) if log.warnings else "—"

    @admin.display(description="requests")
    def requests_json(self, log):
        logged = [entry for entry in (log.requests or []) if isinstance(entry, dict)]
        # A failure can end on a 200 (AC's HTML login page, or import/info
        # reporting a failed batch): the last request of an attempt that did
        # not succeed is unfolded, whatever its status.
        last = len(logged) - 1 if log.status != SyncLog.Status.SUCCESS else None
        entries = [request_entry(entry, unfold=n == last) for n, entry in enumerate(logged)]
        return render_to_string("admin/crm_sync/synclog/requests.html", {"entries": entries})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.user_id is not None and self.has_retry_sync_permission(request):
            context.update(retry_url=reverse("admin:crm_sync_synclog_retry", args=[obj.user_id]),
                           retry_badge=obj.badge, retry_next=request.get_full_path())
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # -- actions -----------------------------------------------------------------
    @admin.action(description="Retry sync for these people", permissions=["retry_sync"])
    def retry_selected(self, request, queryset):
        # Newest first, so each person's sync is filed under their latest badge.
        rows = queryset.select_related("user", "badge").order_by("-created_at", "-pk")
        report_retries(self, request, queue_retries((row.user, row.badge) for row in rows))

    # -- extra pages -------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("dashboard/", view(self.dashboard_view), name="crm_sync_synclog_dashboard"),
            path("<path:object_id>/changes/", view(self.changes_view), name="crm_sync_synclog_changes"),
            path("retry/<int:person_id>/", view(self.retry_view), name="crm_sync_synclog_retry"),
            *super().get_urls(),
        ]

    def _context(self, request, title):
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title}

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        operations = sync_status()
        context = {**self._context(request, "CRM sync dashboard"), **dashboard.dashboard(),
                   "operations": operations, "failures_24h": named_failures(operations["failures_24h"]),
                   "undeliverable": inbox.undeliverable_count(),
                   "schema_url": schema_url() if request.user.has_perm(SCHEMA_PERMISSION) else None}
        return TemplateResponse(request, "admin/crm_sync/dashboard.html", context)

    def changes_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        log = get_object_or_404(SyncLog.objects.select_related("user", "badge"), pk=unquote(object_id))
        previous = previous_success(log) if log.status == SyncLog.Status.SUCCESS else None
        context = {
            **self._context(request, f"What changed: {log}"),
            "log": log, "log_url": admin_change_url(log),
            "is_success": log.status == SyncLog.Status.SUCCESS,
            "previous": previous, "previous_url": admin_change_url(previous),
            "changes": payload_changes(previous.payload if previous else None, log.payload)
            if log.status == SyncLog.Status.SUCCESS else [],
        }
        return TemplateResponse(request, "admin/crm_sync/synclog/changes.html", context)

    def retry_view(self, request, person_id):
        """POST only: queue an admin sync for one person, then go back."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_retry_sync_permission(request):
            raise PermissionDenied
        person = get_object_or_404(SyncLog._meta.get_field("user").related_model, pk=person_id)
        badge = None
        if request.POST.get("badge", "").isdigit():
            mapping = crm_mapping()
            badge = mapping.record_model._default_manager.filter(pk=request.POST["badge"]).first()
            if badge is not None and mapping.person_of(badge) != person:
                raise Http404("That badge is not this person's.")
        report_retries(self, request, queue_retries([(person, badge)]))
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
            next_url = attempts_url(person.pk)
        return HttpResponseRedirect(next_url)


# -- the CRM account's schema ------------------------------------------------------
def schema_url():
    return reverse("admin:crm_sync_schema_changelist")


# What each button of the schema page runs (connection.check_schema's arguments).
SCHEMA_RUNS = {"check": {}, "dry-run": {"dry_run": True}, "apply": {"apply": True}}


@admin.register(Schema)
class SchemaAdmin(admin.ModelAdmin):
    """One page instead of a list: the CRM account against the mapping, as
    the last check found it, with buttons that check again, show what would
    be created, or create it (`manage.py crm_sync_schema`, docs/admin.md).
    Only for staff with `crm_sync.change_schema`; every run is a POST."""

    def has_module_permission(self, request):
        return request.user.has_perm(SCHEMA_PERMISSION)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(SCHEMA_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm(SCHEMA_PERMISSION)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [path("", self.admin_site.admin_view(self.schema_view), name="crm_sync_schema_changelist")]

    def schema_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            self.run(request, request.POST.get("run", ""))
            return HttpResponseRedirect(schema_url())
        report = last_schema_report()
        sent = [{**request_sent, "body": pretty_json(request_sent["body"])}
                for request_sent in (report.requests if report else [])]
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "CRM schema",
                   "report": report, "requests": sent}
        return TemplateResponse(request, "admin/crm_sync/schema.html", context)

    def run(self, request, run):
        if run not in SCHEMA_RUNS:
            self.message_user(request, "Nothing run: unknown button.", messages.ERROR)
            return
        try:
            report = check_schema(**SCHEMA_RUNS[run])
        except (CrmError, ImproperlyConfigured) as error:
            self.message_user(request, f"Stopped: {error}. What was created stays; run again to go on.",
                              messages.ERROR)
            return
        for refusal in report.refusals:
            self.message_user(request, f"Refused: {refusal}", messages.ERROR)
        if report.fits:
            self.message_user(request, "The account can take every value the mapping writes.", messages.SUCCESS)
        else:
            self.message_user(request, f"The account cannot take every value yet: {len(report.problems)} to fix.",
                              messages.WARNING)


# -- the inbox: what the CRM told us (crm_sync/inbox.py, docs/webhooks.md) ----------
def inbox_url(person_id):
    return reverse("admin:crm_sync_inboxevent_changelist") + f"?person__id__exact={person_id}"


@admin.register(InboxEvent)
class InboxEventAdmin(RowsOfRecord, admin.ModelAdmin):
    """Read-only: each row is an event as the CRM sent it and what
    processing made of it. Failed rows can be processed again (with the
    retry permission); only superusers may delete one (retention does)."""

    list_display = ("received_at", "event_type", "initiated_from", "source", "person_link", "outcome", "short_reason")
    list_filter = ("event_type", "outcome", "source", "initiated_from")
    search_fields = ("email", "contact_id")
    date_hierarchy = "received_at"
    actions = ["process_again"]
    list_select_related = ("person",)
    readonly_fields = ("person_link", "what_it_changed", "payload_json")
    fieldsets = (
        (None, {"fields": ("event_type", "initiated_from", "source", "person_link", "email", "contact_id",
                           "list_id", "outcome", "reason", "what_it_changed", "attempts")}),
        ("Times", {"fields": ("occurred_at", "received_at", "processed_at", "redacted_at")}),
        ("The event as the CRM sent it", {"fields": ("payload_json", "dedup_key", "account_url")}),
    )


    @admin.display(description="person", ordering="person")
    def person_link(self, event):
        url = admin_change_url(event.person)
        return format_html('<a href="{}">{}</a>', url, event.person) if url else (event.person or "—")

    @admin.display(description="reason")
    def short_reason(self, event):
        return shortened(event.reason, 80)

    @admin.display(description="what it changed")
    def what_it_changed(self, event):
        if event.outcome != InboxEvent.Outcome.APPLIED:
            return "nothing"
        records = list(ConsentRecord.objects.filter(inbox_event=event).order_by("changed_at", "pk"))
        return render_to_string("admin/crm_sync/inboxevent/what_it_changed.html",
                                {"event": event, "records": records, "person_url": admin_change_url(event.person)})

    @admin.display(description="payload")
    def payload_json(self, event):
        return format_html('<pre class="crm-json">{}</pre>', pretty_json(event.payload))

    @admin.action(description="Process again (failed rows)", permissions=["retry_sync"])
    def process_again(self, request, queryset):
        queued = inbox.process_again(queryset.filter(outcome=InboxEvent.Outcome.FAILED))
        if queued:
            self.message_user(request, f"Queued {queued} failed row{'s' if queued != 1 else ''} to be processed again.",
                              messages.SUCCESS)
        else:
            self.message_user(request, "Nothing queued: only failed rows are processed again.", messages.WARNING)


# -- erasure and subject access (erasure.py) -----------------------------------------
def person_model():
    return SyncLog._meta.get_field("user").related_model


def person_or_404(person_id):
    try:
        return get_object_or_404(person_model(), pk=person_id)
    except (ValueError, ValidationError) as error:
        raise Http404("No such person.") from error


def may_see_holdings(user):
    """"What AC holds" shows everything the CRM and Badge Maker hold on a
    person: for staff who may read sync attempts (they carry the same
    values) and view the person."""
    opts = person_model()._meta
    return user.has_perm("crm_sync.view_synclog") and user.has_perm(f"{opts.app_label}.view_{opts.model_name}")


def erasure_panel(request, person):
    """The person panel's erasure part: the latest receipt, and the
    "Erase from AC" and "What AC holds" links for staff allowed them."""
    receipt = ErasureReceipt.objects.filter(person_pk=str(person.pk)).order_by("-requested_at", "-pk").first()
    may_erase = request.user.has_perm(ERASE_PERMISSION) and (
        receipt is None or receipt.status == ErasureReceipt.Status.FAILED)
    return {
        "erasure": receipt,
        "erasure_url": admin_change_url(receipt),
        "erase_url": reverse("admin:crm_sync_erasurereceipt_erase", args=[person.pk]) if may_erase else None,
        "holdings_url": reverse("admin:crm_sync_erasurereceipt_holdings", args=[person.pk])
        if may_see_holdings(request.user) else None,
    }


def erase_confirmation(model_admin, request, people, form_action, selected=(), next_url=""):
    """The page that asks before erasing: what goes, what stays."""
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta,
               "title": "Erase from AC?", "people": [(person, admin_change_url(person)) for person in people],
               "form_action": form_action, "selected": selected, "action_checkbox_name": ACTION_CHECKBOX_NAME,
               "next": next_url}
    return TemplateResponse(request, "admin/crm_sync/erase_confirm.html", context)


def erase_people(model_admin, request, people):
    """Request an erasure for each person, in one transaction, and say what became of each."""
    with transaction.atomic():
        receipts = [request_erasure(person, request.user.get_username()) for person in people]
    if not receipts:
        model_admin.message_user(request, "Nobody to erase.", messages.WARNING)
        return
    for person, receipt in zip(people, receipts):
        if receipt.status == ErasureReceipt.Status.FAILED:
            model_admin.message_user(request, f"{person}: {receipt.answer}", messages.ERROR)
        elif receipt.status == ErasureReceipt.Status.DONE:
            model_admin.message_user(request, f"{person}: {receipt.answer}. They will not be synced again.",
                                     messages.SUCCESS)
    queued = sum(receipt.status in (ErasureReceipt.Status.QUEUED, ErasureReceipt.Status.WAITING)
                 for receipt in receipts)
    if queued:
        model_admin.message_user(
            request, f"Erasure queued for {queued} {'person' if queued == 1 else 'people'}: their AC contact is "
                     "deleted in the background, their sync history is redacted, and they will not be synced again.",
            messages.SUCCESS)


@admin.register(ErasureReceipt)
class ErasureReceiptAdmin(History, admin.ModelAdmin):
    """The receipts of erasures: read-only, holding no personal data. Also
    serves the person pages' "Erase from AC" (`crm_sync.add_erasurereceipt`)
    and "What AC holds" (`may_see_holdings`) (docs/admin.md)."""

    list_display = ("requested_at", "person", "contact_id", "requested_by", "status", "attempts", "retry_at",
                    "finished_at")
    list_filter = ("status", "requested_at")
    search_fields = ("person_pk", "contact_id", "requested_by")
    readonly_fields = ("person", "person_pk", "account_url", "contact_id", "requested_by", "requested_at", "status",
                       "attempts", "retry_at", "answer", "finished_at")
    fields = readonly_fields
    actions = ["try_again_now"]

    def has_erase_permission(self, request):
        return request.user.has_perm(ERASE_PERMISSION)

    @admin.display(description="person")
    def person(self, receipt):
        person = person_model()._default_manager.filter(pk=receipt.person_pk).first()
        if person is None:
            return f"{receipt.person_pk} (deleted)"
        url = admin_change_url(person)
        return format_html('<a href="{}">{}</a>', url, person) if url else str(person)

    @admin.action(description="Try again now", permissions=["erase"])
    def try_again_now(self, request, queryset):
        again = try_again(queryset)
        if again:
            self.message_user(request, f"Queued {again} erasure(s) again.", messages.SUCCESS)
        else:
            self.message_user(request, "Nothing to try again: those erasures are done.", messages.WARNING)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("person/<path:person_id>/erase/", view(self.erase_view), name="crm_sync_erasurereceipt_erase"),
            path("person/<path:person_id>/holdings/", view(self.holdings_view),
                 name="crm_sync_erasurereceipt_holdings"),
            *super().get_urls(),
        ]

    def erase_view(self, request, person_id):
        """GET: the confirmation page; POST: request the erasure and go back."""
        if not self.has_erase_permission(request):
            raise PermissionDenied
        person = person_or_404(person_id)
        next_url = request.POST.get("next") or request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
            next_url = admin_change_url(person) or reverse("admin:crm_sync_erasurereceipt_changelist")
        if request.method != "POST":
            return erase_confirmation(self, request, [person], form_action=request.path, next_url=next_url)
        erase_people(self, request, [person])
        return HttpResponseRedirect(next_url)

    def holdings_view(self, request, person_id):
        """What the CRM holds on the person beside what Badge Maker holds;
        `?download=json` gives the same as a file for a subject access request."""
        if not may_see_holdings(request.user):
            raise PermissionDenied
        person = person_or_404(person_id)
        try:
            holdings = what_crm_holds(person)
        except (CrmError, ImproperlyConfigured) as error:
            self.message_user(request, f"Could not read the contact from the CRM: {error}", messages.ERROR)
            holdings = None
        if holdings is not None and request.GET.get("download") == "json":
            response = JsonResponse(holdings.as_json(), json_dumps_params={"indent": 2, "ensure_ascii": False})
            response["Content-Disposition"] = f'attachment; filename="subject-access-person-{holdings.person_pk}.json"'
            return response
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": f"What AC holds: {person}", "person": person, "person_url": admin_change_url(person),
                   "holdings": holdings, "rows": side_by_side(holdings) if holdings else [],
                   "crm_json": pretty_json(holdings.as_json()["crm"]) if holdings else ""}
        return TemplateResponse(request, "admin/crm_sync/holdings.html", context)


# -- alerts (alerts.py) ------------------------------------------------------------
@admin.register(Alert)
class AlertAdmin(History, admin.ModelAdmin):
    """The alerts' history, read-only: what fired, when it ended, and how each
    channel's notice went. Beat writes these rows (docs/operations.md#alerts)."""

    # Six columns, to fit a 1280 px screen beside the filters: when the notice went out
    # (fired_at) and each notice's whole story (`delivered`) are on the alert's page.
    list_display = ("first_seen_at", "rule", "state", "resolved_at", "notices", "short_message")
    list_filter = ("state", "rule", "first_seen_at")
    readonly_fields = ("rule", "state", "first_seen_at", "fired_at", "resolved_at", "message", "detail_json",
                       "delivered")
    fields = readonly_fields

    @admin.display(description="message")
    def short_message(self, alert):
        return shortened(alert.message, 120)

    @admin.display(description="detail")
    def detail_json(self, alert):
        return format_html("<pre>{}</pre>", pretty_json(alert.detail))

    @admin.display(description="notices sent")
    def delivered(self, alert):
        return describe_deliveries(alert)

    @admin.display(description="notices")
    def notices(self, alert):
        return summarise_deliveries(alert)


# -- the bulk importer's batches (importer.py, burst.py) -------------------------------
@admin.register(ImportBatch)
class ImportBatchAdmin(History, admin.ModelAdmin):
    """The batches the CRM's bulk importer queued, a resync's or a burst's:
    read-only, written by crm_sync. Their import times are what the burst
    switch learns from (docs/performance.md, "Bursts")."""

    list_display = ("batch_id", "lane", "people", "status", "queued_at", "completed_at", "import_time")
    list_filter = ("status", "lane", "queued_at")
    search_fields = ("batch_id",)
    readonly_fields = ("batch_id", "account_url", "lane", "people", "status", "queued_at", "completed_at",
                       "import_time", "error")
    fields = readonly_fields

    @admin.display(description="people", ordering="size")
    def people(self, batch):
        """How many people the batch carried, linked to their sync attempts."""
        url = f'{reverse("admin:crm_sync_synclog_changelist")}?{urlencode({"batch_id": batch.batch_id})}'
        return format_html('<a href="{}">{}</a>', url, batch.size)

    @admin.display(description="import seconds")
    def import_time(self, batch):
        seconds = batch.import_seconds
        return None if seconds is None else f"{seconds:.1f} s"  # None: the admin's "-", as for completed at


# -- the dashboard in the app list --------------------------------------------------
def with_dashboard(get_app_list):
    """An AdminSite's `get_app_list` with the dashboard as the first row of
    crm_sync's section, for staff who may see sync attempts: the index, the
    sidebar and the app's page then have one "CRM sync" section with it all."""

    def get_app_list_with_dashboard(request, app_label=None):
        app_list = get_app_list(request, app_label)
        if request.user.has_perm("crm_sync.view_synclog"):
            for app in app_list:
                if app["app_label"] == SyncLog._meta.app_label:
                    app["models"].insert(0, {
                        "name": "Dashboard", "object_name": "Dashboard", "perms": {"view": True},
                        "admin_url": reverse("admin:crm_sync_synclog_dashboard"), "add_url": None, "view_only": True,
                    })
        return app_list

    return get_app_list_with_dashboard


# The default site; a project with an AdminSite of its own wraps its get_app_list the same way (docs/admin.md).
admin.site.get_app_list = with_dashboard(admin.site.get_app_list)
