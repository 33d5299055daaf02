"""Staff log in to the admin with their email, and the form says so."""
import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_admin_login_asks_for_the_email_and_takes_it_in_any_case(client):
    UserFactory(superuser=True, email="Staff.Member@example.com", password="a long staff password")

    page = client.get("/admin/login/").content.decode()
    assert '<label for="id_username" class="required">Email:' in page and "Username" not in page

    response = client.post("/admin/login/?next=/admin/", {"username": "staff.member@EXAMPLE.com",
                                                          "password": "a long staff password"})
    assert response.status_code == 302 and response.url == "/admin/"
