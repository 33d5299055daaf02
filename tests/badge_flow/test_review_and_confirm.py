import pytest
from django.urls import reverse

from badgemaker.badges.models import Badge
from crm_sync.crm import SUBSCRIBED, UNSUBSCRIBED
from crm_sync.mapping import build_contact_payload, crm_mapping
from crm_sync.models import SyncLog
from tests.factories import ContactStateFactory, UserFactory

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


def test_editing_a_confirmed_badge_saves_at_once_and_says_so(attendee_client, event, make_badge):
    badge = make_badge()
    attendee_client.post(url("confirm", event))
    first_confirmed_at = Badge.objects.get().confirmed_at
    data = {"email": "Ada@Example.com", "badge_name": "Ada, again"}

    response = attendee_client.post(url("badge", event), data, follow=True)

    # Saved, still confirmed, nothing left to confirm: the confirmation page says what happened.
    assert response.redirect_chain == [(url("confirmed", event), 302)]
    assert "Your changes are saved. Your badge stays confirmed." in response.text
    assert "confirm again" not in response.text
    badge.refresh_from_db()
    assert (badge.badge_name, badge.status, badge.confirmed_at) == ("Ada, again", Badge.Status.CONFIRMED,
                                                                    first_confirmed_at)


def test_editing_a_confirmed_badge_of_someone_opted_in_says_the_organisers_records_follow(
        attendee_client, attendee, event, make_badge):
    attendee.crm_opt_in = True
    attendee.save()
    make_badge(status=Badge.Status.CONFIRMED)
    data = {"email": "Ada@Example.com", "badge_name": "Ada, again", "crm_opt_in": "on"}

    response = attendee_client.post(url("badge", event), data, follow=True)

    assert ("Your changes are saved. Your badge stays confirmed; the organisers&#x27; records are updated in the "
            "background.") in response.text


def test_the_saved_change_of_a_confirmed_badge_is_already_on_its_way_to_the_crm(
        attendee_client, attendee, event, make_badge, ac_settings, captured_syncs):
    attendee.crm_opt_in = True
    attendee.save()
    make_badge(status=Badge.Status.CONFIRMED)
    SyncLog.objects.all().delete()

    attendee_client.post(url("badge", event), {"email": "Ada@Example.com", "badge_name": "Ada, again",
                                               "crm_opt_in": "on"})

    # What the page says ("updated in the background") is true: a sync is queued, and it sends the new name.
    assert SyncLog.objects.filter(user=attendee, status="queued").exists()
    assert build_contact_payload(crm_mapping().load(attendee)).fields["BADGE_NAME"] == "Ada, again"


def test_saving_a_confirmed_badge_unchanged_says_nothing_changed(attendee_client, event, make_badge):
    make_badge(status=Badge.Status.CONFIRMED)
    data = {"email": "Ada@Example.com", "badge_name": "Ada, again"}
    attendee_client.post(url("badge", event), data)

    response = attendee_client.post(url("badge", event), data, follow=True)

    assert "Nothing changed. Your badge stays confirmed." in response.text


def test_the_badge_page_of_a_confirmed_badge_says_saving_is_enough(attendee_client, event, make_badge):
    make_badge(status=Badge.Status.CONFIRMED)

    response = attendee_client.get(url("badge", event))

    text = " ".join(response.text.split())
    assert "Changes you save here are kept at once; there is nothing to confirm again." in text
    assert "Save changes" in response.text and "Save and review" not in response.text


def test_review_of_a_confirmed_badge_offers_no_confirm_button(attendee_client, event, make_badge):
    make_badge(status=Badge.Status.CONFIRMED)

    response = attendee_client.get(url("review", event))

    assert "Confirm my badge" not in response.text
    assert "is confirmed" in response.text and "nothing to confirm again" in " ".join(response.text.split())


def test_confirming_again_is_still_allowed_and_moves_the_confirmation_time(attendee_client, event, make_badge):
    badge = make_badge()
    attendee_client.post(url("confirm", event))
    first_confirmed_at = Badge.objects.get().confirmed_at

    assert attendee_client.post(url("confirm", event)).url == url("confirmed", event)

    badge.refresh_from_db()
    assert badge.confirmed_at > first_confirmed_at


@pytest.mark.parametrize("opted_in, shown", [(True, "Yes: the organisers may email you about this and future events."),
                                             (False, "No: the organisers won't email you.")])
def test_review_shows_the_email_choice(attendee_client, attendee, event, make_badge, opted_in, shown):
    attendee.crm_opt_in = opted_in
    attendee.save()
    make_badge()

    response = attendee_client.get(url("review", event))

    assert "Emails from the organisers" in response.text
    assert shown in response.text
    assert f'href="{url("badge", event)}#id_crm_opt_in"' in response.text


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

    text = response.text.replace("&#x27;", "'")
    assert "You didn't opt in to emails, so we won't add you to our mailing list." in text
    assert "keep you posted" not in response.text


def withdraw_on_the_badge_page(client, event):
    """Untick the opt-in on the badge page (the rest as it is): a confirmed badge lands on its confirmation."""
    return client.post(url("badge", event), {"email": "Ada@Example.com", "badge_name": "Ada"}, follow=True)


@pytest.mark.parametrize("list_status, said", [
    (SUBSCRIBED, "You've withdrawn your agreement to emails, so we're taking you off our mailing list."),
    (UNSUBSCRIBED, "You've withdrawn your agreement to emails, so you're no longer on our mailing list."),
])
def test_the_confirmed_page_after_withdrawing_says_the_attendee_leaves_the_list(
        attendee_client, attendee, event, make_badge, list_status, said):
    attendee.crm_opt_in = True
    attendee.save()
    make_badge(status=Badge.Status.CONFIRMED)
    # On the list: the sync has subscribed them; after withdrawing, the next sync unsubscribes them.
    ContactStateFactory(user=attendee, list_status=list_status)

    response = withdraw_on_the_badge_page(attendee_client, event)

    text = response.text.replace("&#x27;", "'")
    assert said in text
    assert "Your changes are saved." in text
    assert "didn't opt in" not in text and "keep you posted" not in text
    if list_status == SUBSCRIBED:  # a sync will take them off: the organisers' records change
        assert "the organisers' records are updated in the background" in text


def test_the_confirmed_page_after_withdrawing_before_ever_being_added(attendee_client, attendee, event, make_badge):
    attendee.crm_opt_in = True
    attendee.save()
    make_badge(status=Badge.Status.CONFIRMED)  # never synced: no list status

    response = withdraw_on_the_badge_page(attendee_client, event)

    text = response.text.replace("&#x27;", "'")
    assert "You've withdrawn your agreement to emails, so we won't add you to our mailing list." in text
    assert "didn't opt in" not in text


def test_the_confirmed_page_for_a_draft_sends_the_attendee_to_review(attendee_client, event, make_badge):
    make_badge()

    assert attendee_client.get(url("confirmed", event)).url == url("review", event)


@pytest.mark.parametrize("page", ["review", "confirmed"])
def test_html_in_the_badge_name_is_shown_as_text(attendee_client, event, make_badge, page):
    make_badge(badge_name=SCRIPT, dietary_requirements=SCRIPT, status=Badge.Status.CONFIRMED)

    response = attendee_client.get(url(page, event))

    assert SCRIPT not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
