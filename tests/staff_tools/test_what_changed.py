""""What changed": each successful attempt against the person's previous one."""
import datetime

import pytest
from django.urls import reverse

from crm_sync.admin import payload_changes
from crm_sync.models import SyncLog
from tests.staff_tools.conftest import payload

pytestmark = pytest.mark.django_db


def changes_page(client, log):
    return client.get(reverse("admin:crm_sync_synclog_changes", args=[log.pk]))


def test_payload_changes_lists_each_difference_in_order():
    old = payload(email="ada@example.com", contact={"firstName": "Ada", "phone": "+442079460018"},
                  fields={"TWITTER": "@ada", "BADGE_NAME": "Ada"}, tags=["badge-maker", "event:a"])
    new = payload(email="ada@new.example", contact={"firstName": "Ada"},
                  fields={"BADGE_NAME": "Countess Ada", "LAST_EVENT": "PyCon"},
                  tags=["badge-maker", "event:a", "event:b"], list_status=1)

    assert payload_changes(old, new) == [
        ("Email", "ada@example.com", "ada@new.example"),
        ("Contact phone", "+442079460018", None),
        ("Field BADGE_NAME", "Ada", "Countess Ada"),
        ("Field LAST_EVENT", None, "PyCon"),
        ("Field TWITTER", "@ada", None),
        ("Tags", "badge-maker, event:a", "badge-maker, event:a, event:b"),
    ]


def test_first_success_shows_everything_as_new():
    assert payload_changes(None, payload(fields={"BADGE_NAME": "Ada"})) == [
        ("Email", None, "ada@example.com"),
        ("Contact firstName", None, "Ada"),
        ("Field BADGE_NAME", None, "Ada"),
        ("Tags", None, "badge-maker"),
        ("List status", None, "subscribed"),
    ]


def test_page_compares_with_the_previous_success_not_a_failure_or_someone_else(viewer, make_user, make_log):
    ada, grace = make_user(email="ada@example.com"), make_user(email="grace@example.com")
    day = datetime.timedelta(days=1)
    first = make_log(ada, ago=3 * day, payload=payload(fields={"BADGE_NAME": "Ada"}))
    make_log(ada, ago=2 * day, status="failed", payload=payload(fields={"BADGE_NAME": "Failed value"}))
    make_log(grace, ago=day + datetime.timedelta(hours=1), payload=payload(fields={"BADGE_NAME": "Grace"}))
    second = make_log(ada, ago=day, payload=payload(fields={"BADGE_NAME": "Countess Ada"}))

    first_page = changes_page(viewer, first)
    second_page = changes_page(viewer, second)

    assert second_page.context["previous"] == first
    assert second_page.context["changes"] == [("Field BADGE_NAME", "Ada", "Countess Ada")]
    assert first_page.context["previous"] is None
    assert "first successful sync on record" in first_page.content.decode()
    assert ("Field BADGE_NAME", None, "Ada") in first_page.context["changes"]


def test_page_for_a_failed_attempt_says_it_changed_nothing(viewer, make_user, make_log):
    log = make_log(make_user(), status="failed", payload=payload())

    page = changes_page(viewer, log)

    assert page.status_code == 200
    assert page.context["changes"] == []
    assert "did not succeed" in page.content.decode()


def test_unchanged_success_says_nothing_changed(viewer, make_user, make_log):
    ada = make_user()
    make_log(ada, ago=datetime.timedelta(hours=2), payload=payload())
    again = make_log(ada, payload=payload())

    assert "Nothing changed" in changes_page(viewer, again).content.decode()


def test_unknown_row_is_404(viewer):
    assert viewer.get(reverse("admin:crm_sync_synclog_changes", args=[999999])).status_code == 404
    assert SyncLog.objects.count() == 0
