"""Labels stay bounded: endpoints as templates, statuses and categories;
never an email, a contact id, a person id or a batch id."""
import pytest

from crm_sync.metrics import endpoint_template
from crm_sync.models import ContactState
from crm_sync.testing import run_syncs_eagerly


@pytest.mark.parametrize("path, template", [
    ("/api/3/contact/sync", "contact/sync"),
    ("/api/3/contacts/123", "contacts/{id}"),
    ("/api/3/contacts/123/contactTags?limit=100&offset=0", "contacts/{id}/contactTags"),
    ("/api/3/import/info?batchId=3f2a-77", "import/info"),
    ("/api/3/contacts?email=ada%40example.com", "contacts"),
    ("/api/3/contacts/ada@example.com", "contacts/{id}"),
])
def test_a_request_is_counted_under_its_endpoint_template(path, template):
    assert endpoint_template(path) == template


@pytest.mark.django_db
def test_a_sync_through_the_sandbox_is_counted_without_naming_the_person(sandbox_settings, scrape, one_process,
                                                                          make_user, confirm_badge):
    ada = make_user(email="ada.lovelace@example.com")
    with run_syncs_eagerly() as ran:
        confirm_badge(ada)
    assert [log.status for log in ran] == ["success"]
    contact_id = ContactState.objects.get(user=ada).ac_contact_id

    scraped = scrape()
    assert scraped.samples("crm_sync_requests_total", method="POST", endpoint="contact/sync", status_class="2xx")
    assert scraped.samples("crm_sync_attempts_total", status="success", category="none")
    values = {value for family in scraped.families.values() if family.name.startswith("crm_sync_")
              for sample in family.samples for value in sample.labels.values()}
    assert not [value for value in values if "@" in value or value in (contact_id, str(ada.pk)) or value.isdigit()]
