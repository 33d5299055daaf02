import pytest
from django.urls import reverse

from badgemaker.badges.models import Badge
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"


def url(name, event):
    return reverse(f"badges:{name}", args=[event.slug])


def test_review_shows_the_badge_with_choice_labels(attendee_client, event, make_badge):
    make_badge(badge_name="Countess Ada", dietary_preferences=["gluten_free", "vegan"], volunteer_interests=["setup_teardown"])

    response = attendee_client.get(url("review", event))

    assert "Countess Ada" in response.text
    assert event.name in response.text
    assert "Gluten-free, Vegan" in response.text
    assert "Setup and teardown" in response.text
    assert "gluten_free" not in response.text
    assert "Confirm my badge" in response.text
    assert f'href="{url("badge", event)}"' in response.text


def test_review_without_a_badge_sends_the_attendee_to_the_badge_page(attendee_client, event):
    assert attendee_client.get(url("review", event)).url == url("badge", event)


def test_confirm_sets_the_status_and_time_and_redirects(attendee_client, event, make_badge):
    badge = make_badge()

    response = attendee_client.post(url("confirm", event))

    assert response.status_code == 302
    assert response.url == url("confirmed", event)
    badge.refresh_from_db()
    assert badge.status == Badge.Status.CONFIRMED
    assert badge.confirmed_at is not None


def test_confirm_only_accepts_post(attendee_client, event, make_badge):
    make_badge()

    assert attendee_client.get(url("confirm", event)).status_code == 405
    assert Badge.objects.get().status == Badge.Status.DRAFT


def test_confirm_needs_a_login(client, event, make_badge):
    make_badge()

    assert client.post(url("confirm", event)).url.startswith(reverse("accounts:login"))
    assert Badge.objects.get().status == Badge.Status.DRAFT


def test_an_attendee_cannot_confirm_someone_elses_badge(client, event, make_badge):
    make_badge()
    client.force_login(UserFactory(email="eve@example.com"))

    assert client.post(url("confirm", event)).status_code == 404
    assert Badge.objects.get().status == Badge.Status.DRAFT


def test_a_confirmed_badge_can_be_edited_and_confirmed_again(attendee_client, event, make_badge):
    badge = make_badge()
    attendee_client.post(url("confirm", event))
    first_confirmed_at = Badge.objects.get().confirmed_at
    data = {"email": "Ada@Example.com", "badge_name": "Ada, again"}

    assert attendee_client.post(url("badge", event), data).url == url("review", event)
    assert "already confirmed" in attendee_client.get(url("review", event)).text
    assert attendee_client.post(url("confirm", event)).url == url("confirmed", event)

    badge.refresh_from_db()
    assert badge.badge_name == "Ada, again"
    assert badge.status == Badge.Status.CONFIRMED
    assert badge.confirmed_at > first_confirmed_at


def test_the_confirmed_page_thanks_an_attendee_who_opted_in(attendee_client, attendee, event, make_badge):
    attendee.crm_opt_in = True
    attendee.save()
    make_badge(status=Badge.Status.CONFIRMED)

    response = attendee_client.get(url("confirmed", event))

    assert "Your badge is confirmed" in response.text
    assert f"We'll keep you posted about {event.name}" in response.text
    assert "mailing list" not in response.text


def test_the_confirmed_page_tells_an_attendee_who_did_not_opt_in(attendee_client, event, make_badge):
    make_badge(status=Badge.Status.CONFIRMED)

    response = attendee_client.get(url("confirmed", event))

    assert "You didn't opt in to emails, so we won't add you to our mailing list." in response.text
    assert "keep you posted" not in response.text


def test_the_confirmed_page_for_a_draft_sends_the_attendee_to_review(attendee_client, event, make_badge):
    make_badge()

    assert attendee_client.get(url("confirmed", event)).url == url("review", event)


@pytest.mark.parametrize("page", ["review", "confirmed"])
def test_html_in_the_badge_name_is_shown_as_text(attendee_client, event, make_badge, page):
    make_badge(badge_name=SCRIPT, dietary_requirements=SCRIPT, status=Badge.Status.CONFIRMED)

    response = attendee_client.get(url(page, event))

    assert SCRIPT not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
