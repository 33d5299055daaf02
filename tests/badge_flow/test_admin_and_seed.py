import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.urls import reverse

from badgemaker.accounts.models import User
from badgemaker.badges.models import Event

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "page",
    [
        "admin:badges_event_changelist", "admin:badges_event_add",
        "admin:badges_badge_changelist", "admin:badges_badge_add",
        "admin:accounts_user_changelist", "admin:accounts_user_add",
    ],
)  # fmt: skip
def test_admin_pages_load(admin_client, event, make_badge, page):
    make_badge()

    assert admin_client.get(reverse(page)).status_code == 200


def test_admin_change_pages_load(admin_client, attendee, make_badge):
    badge = make_badge(dietary_preferences=["vegan"])

    assert admin_client.get(reverse("admin:badges_badge_change", args=[badge.pk])).status_code == 200
    assert admin_client.get(reverse("admin:accounts_user_change", args=[attendee.pk])).status_code == 200


def test_admin_adds_a_user_by_email(admin_client):
    data = {"email": "new@example.com", "usable_password": "true", "password1": "s3cret-pass", "password2": "s3cret-pass"}

    response = admin_client.post(reverse("admin:accounts_user_add"), data)

    assert response.status_code == 302
    assert User.objects.get(email="new@example.com").username == "new@example.com"


def test_seed_demo_creates_the_superuser_and_event_once(capsys):
    call_command("seed_demo")
    call_command("seed_demo", "--password", "another-pass")

    admin = User.objects.get(email="admin@example.com")
    assert admin.is_superuser and admin.is_staff
    assert authenticate(username="ADMIN@example.com", password="another-pass") == admin
    event = Event.objects.get()
    assert (event.name, event.slug) == ("PyCon Demo 2026", "pycon-demo-2026")
    assert "another-pass" in capsys.readouterr().out
