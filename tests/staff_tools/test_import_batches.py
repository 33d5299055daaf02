"""The bulk importer's batches in the admin: a read-only list for staff
allowed to see them, with each batch's import time."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_sync.models import ImportBatch, SyncLog

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:crm_sync_importbatch_changelist")


@pytest.fixture
def batches():
    queued = timezone.now() - datetime.timedelta(minutes=5)
    done = ImportBatch.objects.create(batch_id="b-1042", account_url="https://badgemaker.api-us1.com",
                                      lane=ImportBatch.Lane.BURST, size=250, status=ImportBatch.Status.COMPLETED,
                                      queued_at=queued, completed_at=queued + datetime.timedelta(seconds=12.5))
    importing = ImportBatch.objects.create(batch_id="b-1043", account_url="https://badgemaker.api-us1.com",
                                           lane=ImportBatch.Lane.RESYNC, size=40, queued_at=queued)
    return done, importing


@pytest.fixture
def batch_viewer(client, make_staff):
    return make_staff(client, "crm_sync.view_importbatch")


def test_staff_see_each_batch_with_its_import_time(batch_viewer, batches):
    done, importing = batches

    response = batch_viewer.get(CHANGELIST)
    page = response.content.decode()

    assert response.status_code == 200
    columns = [name for name in response.context["cl"].list_display if name != "action_checkbox"]
    assert columns == ["batch_id", "lane", "people", "status", "queued_at", "completed_at", "import_time"]
    assert "b-1042" in page and "Burst of live syncs" in page and "12.5 s" in page
    assert "b-1043" in page and "Resync command" in page and "Importing" in page
    assert batch_viewer.get(reverse("admin:crm_sync_importbatch_change", args=[done.pk])).status_code == 200


def test_a_batch_links_to_the_attempts_it_carried(batch_viewer, admin_client, batches):
    done, _ = batches
    for n, batch_id in enumerate(["b-1042", "b-1042", "b-1043"]):
        SyncLog.objects.create(email=f"person{n}@example.com", trigger="signal", status="success", batch_id=batch_id)

    page = batch_viewer.get(CHANGELIST).content.decode()
    link = f'{reverse("admin:crm_sync_synclog_changelist")}?batch_id=b-1042'
    assert f'<a href="{link}">250</a>' in page

    attempts = admin_client.get(link)
    assert attempts.status_code == 200
    assert sorted(row.email for row in attempts.context["cl"].result_list) == ["person0@example.com",
                                                                              "person1@example.com"]


def test_batches_are_read_only(batch_viewer, admin_client, batches):
    done, _ = batches

    assert batch_viewer.get(reverse("admin:crm_sync_importbatch_add")).status_code == 403
    assert batch_viewer.post(reverse("admin:crm_sync_importbatch_change", args=[done.pk]),
                             {"size": 1}).status_code == 403
    assert admin_client.post(reverse("admin:crm_sync_importbatch_delete", args=[done.pk]),
                             {"post": "yes"}).status_code == 403
    done.refresh_from_db()
    assert done.size == 250
    assert 'name="_save"' not in admin_client.get(reverse("admin:crm_sync_importbatch_change",
                                                          args=[done.pk])).content.decode()


def test_staff_without_the_view_permission_cannot_see_batches(viewer, batches):
    # `viewer` may see sync attempts, not import batches.
    done, _ = batches

    assert viewer.get(CHANGELIST).status_code == 403
    assert viewer.get(reverse("admin:crm_sync_importbatch_change", args=[done.pk])).status_code == 403
