"""The badge flow: home → badge page → review → confirm → confirmed."""
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from badgemaker.accounts.forms import AboutYouForm
from crm_sync.consent import latest_consent, record_form_change
from crm_sync.crm import SUBSCRIBED, UNSUBSCRIBED
from crm_sync.models import ConsentRecord, ContactState

from .forms import BadgeForm
from .models import DIETARY_CHOICES, VOLUNTEER_CHOICES, Badge, Event


def home(request):
    events = Event.objects.filter(starts_on__gte=timezone.localdate())
    return render(request, "badges/home.html", {"events": events})


@login_required
def badge_page(request, slug):
    event = get_object_or_404(Event, slug=slug)
    badge = Badge.objects.filter(user=request.user, event=event).first()
    if badge is None:
        badge = Badge(user=request.user, event=event, badge_name=request.user.get_full_name())
    # A fresh copy, so that a refused edit never shows up as the logged-in user elsewhere on the page.
    user = get_user_model().objects.get(pk=request.user.pk)
    if request.method == "POST":
        before = _values(user, AboutYouForm), _values(badge, BadgeForm)
        about_form = AboutYouForm(request.POST, instance=user)
        badge_form = BadgeForm(request.POST, request.FILES, instance=badge)
        if all([about_form.is_valid(), badge_form.is_valid()]):  # both checked, so both show their errors
            with transaction.atomic():
                about_form.save()
                # A change of consent is recorded with the words the attendee was shown.
                record_form_change(user, about_form.changed_data, source=ConsentRecord.Source.BADGE_PAGE,
                                   wording=str(about_form.fields["crm_opt_in"].label))
                badge_form.save()  # a confirmed badge stays confirmed, and its sync is queued
            if badge.is_confirmed:
                # Saved, and the change is on its way to the CRM: there is nothing left to confirm.
                changed = before != (_values(user, AboutYouForm), _values(badge, BadgeForm))
                messages.success(request, _saved_message(user, changed))
                return redirect("badges:confirmed", slug=event.slug)
            return redirect("badges:review", slug=event.slug)
    else:
        about_form = AboutYouForm(instance=user)
        badge_form = BadgeForm(instance=badge)
    # A refused page comes back without the file the attendee picked: browsers never refill a file input.
    photo_not_kept = bool(request.FILES.get("profile_image")) and "profile_image" not in badge_form.errors
    context = {"event": event, "badge": badge, "about_form": about_form, "badge_form": badge_form,
               "photo_not_kept": photo_not_kept}
    return render(request, "badges/badge_form.html", context)


@login_required
def review(request, slug):
    badge = _own_badge(request, slug)
    if badge is None:
        return redirect("badges:badge", slug=slug)
    context = {**_badge_context(badge), "mailing_list": _mailing_list(request.user)}
    return render(request, "badges/review.html", context)


@require_POST
@login_required
def confirm(request, slug):
    badge = get_object_or_404(Badge, user=request.user, event__slug=slug)
    # Only the badge is saved here: crm_sync hears about it from post_save.
    with transaction.atomic():
        badge.confirm()
        badge.save()
    return redirect("badges:confirmed", slug=slug)


@login_required
def confirmed(request, slug):
    badge = _own_badge(request, slug)
    if badge is None or not badge.is_confirmed:
        return redirect("badges:review", slug=slug)
    context = {**_badge_context(badge), "mailing_list": _mailing_list(request.user)}
    return render(request, "badges/confirmed.html", context)


def _values(instance, form_class):
    """What `form_class` edits on `instance`, as stored (a changed letter case of the domain is no change)."""
    return {name: getattr(instance, name) for name in form_class._meta.fields}


def _saved_message(user, changed):
    if not changed:
        return "Nothing changed. Your badge stays confirmed."
    if _mailing_list(user) in ("on", "leaving"):
        return ("Your changes are saved. Your badge stays confirmed; "
                "the organisers' records are updated in the background.")
    return "Your changes are saved. Your badge stays confirmed."


def _mailing_list(user):
    """Where the attendee stands with the organisers' mailing list:
    "on" (they opted in), "leaving" (they withdrew, and the sync is taking
    them off), "left" (taken off, or unsubscribed in the CRM), "withdrawn"
    (they withdrew before they were ever added) or "never" (they never opted in)."""
    if user.crm_opt_in:
        return "on"
    states = set(ContactState.objects.filter(user=user).values_list("list_status", flat=True))
    if SUBSCRIBED in states:
        return "leaving"
    if UNSUBSCRIBED in states:
        return "left"
    latest = latest_consent(user)
    return "withdrawn" if latest is not None and not latest.opted_in else "never"


def _own_badge(request, slug):
    return Badge.objects.select_related("event").filter(user=request.user, event__slug=slug).first()


def _badge_context(badge):
    return {
        "badge": badge,
        "event": badge.event,

        "dietary_labels": _labels(badge.dietary_preferences, DIETARY_CHOICES),
        "volunteer_labels": _labels(badge.volunteer_interests, VOLUNTEER_CHOICES),
    }


def _labels(keys, choices):
    """The display labels for stored choice keys; a key no longer offered shows as itself."""
    names = dict(choices)
    return [names.get(key, key) for key in keys]
