"""Who may read the metrics: Prometheus with the bearer token, or staff
logged in. Anyone else gets a 403 with an empty body: no metric, no hint."""
import pytest
from django.test import Client

from tests.factories import UserFactory
from tests.metrics.conftest import METRICS_URL

pytestmark = pytest.mark.django_db


def refused(response):
    return response.status_code == 403 and response.content == b""


def test_prometheus_with_the_token_reads_the_metrics(scrape, metrics_token, one_process):
    scraped = scrape()
    assert "crm_sync_attempts_total" in scraped.names()
    assert scraped.value("crm_sync_database_up") == 1
    assert metrics_token not in scraped.text


@pytest.mark.parametrize("authorization", [
    None,
    "Bearer wrong-token-of-the-right-length-0000000000000",
    "Bearer ",
    "Basic YWRtaW46YWRtaW4=",
])
def test_without_the_right_token_the_answer_is_403_and_empty(metrics_token, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    assert refused(Client().get(METRICS_URL, **headers))


def test_the_token_in_another_scheme_or_the_query_is_refused(metrics_token):
    assert refused(Client().get(METRICS_URL, HTTP_AUTHORIZATION=f"Token {metrics_token}"))
    assert refused(Client().get(METRICS_URL, {"token": metrics_token}))


def test_no_token_configured_means_no_bearer_gets_in(settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "METRICS_TOKEN": ""}
    assert refused(Client().get(METRICS_URL, HTTP_AUTHORIZATION="Bearer "))
    assert refused(Client().get(METRICS_URL, HTTP_AUTHORIZATION="Bearer"))


def test_a_logged_in_person_who_is_not_staff_is_refused(metrics_token):
    client = Client()
    client.force_login(UserFactory(email="attendee@example.com"))
    assert refused(client.get(METRICS_URL))


def test_logged_in_staff_read_the_metrics(metrics_token, one_process):
    client = Client()
    client.force_login(UserFactory(email="organiser@example.com", staff=True))
    response = client.get(METRICS_URL)
    assert response.status_code == 200
    assert b"crm_sync_backlog" in response.content
    assert response["Cache-Control"] == "no-store"
