"""The Django admin for crm_sync: the SyncLog list and detail (read-only),
"Retry sync", the "what changed" audit view, the dashboard, and a mixin that
puts a person's CRM status on a host project's admin pages (docs/admin.md).

Every value from a person or from AC reaches the page through a template or
`format_html`, so it is escaped; nothing here marks user data safe.
"""
import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from . import dashboard
from .connection import check_schema, contact_url, last_schema_report
from .errors import CrmError
from .mapping import crm_mapping
from .models import ContactState, Schema, SyncLog
from .outbox import queue_sync
from .status import sync_status

HISTORY_LIMIT = 20
RETRY_PERMISSION = "crm_sync.retry_sync"
SCHEMA_PERMISSION = "crm_sync.change_schema"
LIST_STATUS = {1: "subscribed", 2: "unsubscribed"}

# -- reading values for display ------------------------------------------------
def event_field():
    """The lookup from a SyncLog row to what its record is for (an event), or None."""
    event = crm_mapping().record_event_field
    return f"badge__{event}" if event else None


def follow(obj, lookup):
    """The value at a `badge__event` style lookup from `obj`, or None where a link is missing."""
    for name in lookup.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


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
    first badge given for them. Returns how many were queued."""
    chosen = {}
    for person, badge in people_and_badges:
        if person is not None:
            chosen.setdefault(person.pk, (person, badge))
    # One transaction: the tasks are dispatched once every row is written.
    with transaction.atomic():
        for person, badge in chosen.values():
            queue_sync(person, badge, trigger=SyncLog.Trigger.ADMIN)
    return len(chosen)


def report_retries(model_admin, request, queued):
    if queued:
        model_admin.message_user(request, f"Queued a new sync for {queued} {'person' if queued == 1 else 'people'}.",
                                 messages.SUCCESS)
    else:
        model_admin.message_user(request, "Nothing queued: none of them belongs to a person.", messages.WARNING)


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

    @admin.action(description="Retry CRM sync", permissions=["retry_sync"])
    def retry_crm_sync(self, request, queryset):
        queued = queue_retries((self.crm_person(obj), self.crm_badge(obj)) for obj in queryset)
        report_retries(self, request, queued)


# -- SyncLog ---------------------------------------------------------------------
@admin.register(SyncLog)
class SyncLogAdmin(admin.ModelAdmin):
    """Read-only: rows are the record of what happened. Only superusers may
    delete one (retention deletes old rows on its own)."""

    list_display = ("created_at", "person", "event", "trigger", "status", "error_category", "attempt",
                    "api_calls", "took")
    date_hierarchy = "created_at"
    change_list_template = "admin/crm_sync/synclog/change_list.html"
    change_form_template = "admin/crm_sync/synclog/change_form.html"
    actions = ["retry_selected"]
    readonly_fields = ("person_link", "badge_link", "other_attempts", "what_changed", "took",
                       "payload_json", "warnings_json", "requests_json")
    fieldsets = (
        (None, {"fields": ("person_link", "email", "badge_link", "other_attempts", "trigger", "attempt", "status",
                           "error_category", "error_message", "what_changed")}),
        ("Times", {"fields": ("created_at", "dispatched_at", "not_before", "started_at", "finished_at", "took",
                              "retry_at", "redacted_at")}),
        ("CRM", {"fields": ("account_url", "ac_contact_id", "api_calls", "deliveries", "task_id",
                                       "batch_id")}),
        ("What crm_sync meant AC to hold", {"fields": ("payload_json", "warnings_json")}),
        ("Requests and AC's answers", {"fields": ("requests_json",)}),
    )

    # -- permissions -------------------------------------------------------------
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_retry_sync_permission(self, request):
        return request.user.has_perm(RETRY_PERMISSION)

    # -- the list --------------------------------------------------------------
    def get_queryset(self, request):
        related = ["user", "badge"]
        event_lookup = event_field()
        if event_lookup and self._is_relation(event_lookup):
            related.append(event_lookup)
        return super().get_queryset(request).select_related(*related)

    def _is_relation(self, lookup):
        model = self.model
        try:
            for name in lookup.split("__"):
                field = model._meta.get_field(name)
                model = field.related_model
        except FieldDoesNotExist:
            return False
        return model is not None

    def get_list_filter(self, request):
        return ("status", "error_category", "trigger", *filter(None, [event_field()]), "created_at")

    def get_search_fields(self, request):
        mapping = crm_mapping()
        return ("email", *(f"user__{name}" for name in mapping.person_search_fields),
                *(f"badge__{name}" for name in mapping.record_search_fields))

    @admin.display(description="person", ordering="user__email")
    def person(self, log):
        return log.user or log.email or "—"

    @admin.display(description="event")
    def event(self, log):
        lookup = event_field()
        return (follow(log, lookup) if lookup else None) or "—"

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
        entries = [
            {
                "method": entry.get("method"), "path": entry.get("path"), "status": entry.get("status"),
                "ms": entry.get("ms"),
                "body": pretty_json(entry.get("body")) if entry.get("body") is not None else "",
                "response": pretty_response(entry.get("response")),
            }
            for entry in (log.requests or []) if isinstance(entry, dict)
        ]
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
        context = {**self._context(request, "CRM sync dashboard"), **dashboard.dashboard(),
                   "operations": sync_status(),
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


# The admin index links to the dashboard through its template, unless the
# project already uses its own index template (then it links it there).
if admin.site.index_template is None:
    admin.site.index_template = "admin/crm_sync/index.html"
