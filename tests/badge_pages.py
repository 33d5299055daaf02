"""Badge Maker's pages posted as an attendee would: sign up, fill in the
badge page, confirm. The one place that knows what those forms take; the
tests that post them (with Django's test client, or over HTTP) build on it."""
from django.urls import reverse

PASSWORD = "correct horse battery staple"


def signup_form(email, **fields):
    """The sign-up page's fields, filled in for `email`; `fields` replaces any."""
    return {"email": email, "first_name": "Ada", "last_name": "Lovelace", "password1": PASSWORD,
            "password2": PASSWORD, **fields}


def badge_form(email, opt_in=True, **typed):
    """Everything the badge page asks, filled in; `typed` replaces any of it.
    `opt_in` ticks the box that lets the organisers (and so the CRM) have it."""
    form = {
        "first_name": "Ada", "last_name": "Lovelace", "email": email, "date_of_birth": "1990-12-10",
        "phone": "020 7946 0018", "emergency_contact_name": "Charles", "emergency_contact_phone": "07911 123456",
        "twitter": "@ada", "instagram": "", "facebook": "", "linkedin": "", "tiktok": "",
        "badge_name": "Countess Ada", "dietary_preferences": ["vegan", "halal"],
        "volunteer_interests": ["photography"], "dietary_requirements": "No peanuts",
    }
    if opt_in:
        form["crm_opt_in"] = "on"
    form.update(typed)
    return form


def sign_up(client, email, **fields):
    """Post the sign-up page (a success logs the new attendee in and redirects)."""
    return client.post(reverse("accounts:signup"), signup_form(email, **fields))


def fill_in_badge_page(client, event, email, opt_in=True, **typed):
    """Post the badge page for `event` (a success redirects to the review page)."""
    return client.post(reverse("badges:badge", args=[event.slug]), badge_form(email, opt_in, **typed))


def confirm(client, event):
    """Post the confirm button of the review page: the badge is confirmed and its sync queued."""
    return client.post(reverse("badges:confirm", args=[event.slug]))


def confirm_through_web(client, event, email, opt_in=True, **typed):
    """Sign up, fill in the badge page and confirm, as an attendee would, then
    log out. Returns the confirmation page."""
    response = sign_up(client, email)
    assert response.status_code == 302, response.content[:2000]
    response = fill_in_badge_page(client, event, email, opt_in, **typed)
    assert response.status_code == 302, response.content.decode()[:3000]
    response = confirm(client, event)
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    client.logout()
    return page
