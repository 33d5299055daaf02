from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from badgemaker.badges.models import Event

pytestmark = pytest.mark.django_db


def test_home_lists_upcoming_events_with_a_badge_button(client, event):
    Event.objects.create(name="Last Year", slug="last-year", starts_on=timezone.localdate() - timedelta(days=1))

    response = client.get(reverse("badges:home"))

    assert list(response.context["events"]) == [event]
    assert "Last Year" not in response.text
    assert f'href="{reverse("badges:badge", args=[event.slug])}">Make your badge' in response.text


def test_home_without_events_says_so(client):
    assert "No events are open for badges" in client.get(reverse("badges:home")).text


def test_the_stylesheet_is_served_locally(client):
    assert '<link rel="stylesheet" href="/static/badges/site.css">' in client.get(reverse("badges:home")).text
