import pytest
from django.urls import reverse

from badgemaker.accounts.forms import EMAIL_TAKEN
from badgemaker.accounts.models import User
from tests.badge_pages import PASSWORD, sign_up

pytestmark = pytest.mark.django_db


def signup(client, **fields):
    return sign_up(client, **{"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper", **fields})


def test_sign_up_creates_the_account_and_logs_in(client):
    response = signup(client)

    assert response.status_code == 302
    assert response.url == reverse("badges:home")
    user = User.objects.get(email="grace@example.com")
    assert (user.first_name, user.last_name) == ("Grace", "Hopper")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_sign_up_goes_on_to_the_page_the_attendee_wanted(client, event):
    badge_url = reverse("badges:badge", args=[event.slug])

    response = signup(client, next=badge_url)

    assert response.url == badge_url


def test_sign_up_ignores_a_next_page_on_another_site(client):
    assert signup(client, next="https://evil.example/").url == reverse("badges:home")


def test_sign_up_refuses_an_email_taken_in_another_letter_case(client, attendee):
    response = signup(client, email="ADA@example.COM")

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [EMAIL_TAKEN]
    assert User.objects.count() == 1


@pytest.mark.parametrize("field", ["email", "first_name", "last_name", "password1"])
def test_sign_up_refuses_a_nul_character(client, field):
    response = signup(client, **{field: "grace\x00@example.com"})

    assert "Null characters are not allowed." in response.context["form"].errors[field]
    assert not User.objects.exists()


@pytest.mark.parametrize("typed", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.com"])
def test_log_in_by_email_in_any_letter_case(client, attendee, typed):
    response = client.post(reverse("accounts:login"), {"username": typed, "password": PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(attendee.pk)


def test_log_in_page_asks_for_the_email(client):
    response = client.get(reverse("accounts:login"))

    assert response.context["form"].fields["username"].label == "Email"
    assert 'type="email"' in response.text


def test_log_in_with_a_wrong_password_says_so(client, attendee):
    response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": "nope"})

    assert "don&#x27;t match an account" in response.text
    assert "_auth_user_id" not in client.session


def test_log_out_is_a_post(attendee_client):
    assert attendee_client.get(reverse("accounts:logout")).status_code == 405

    response = attendee_client.post(reverse("accounts:logout"))

    assert response.url == reverse("badges:home")
    assert "_auth_user_id" not in attendee_client.session


def test_log_in_refuses_a_nul_character(client, attendee):
    response = client.post(reverse("accounts:login"), {"username": "ada@example.com\x00", "password": PASSWORD})

    assert "Null characters are not allowed." in response.context["form"].errors["username"]
    assert "_auth_user_id" not in client.session
