"""The error categories are written once (crm_sync.errors.Category):
SyncLog offers exactly those as choices, with a label for each."""
from crm_sync.errors import Category
from crm_sync.models import SyncLog


def test_synclog_offers_every_error_category_and_no_other():
    assert [choice.value for choice in SyncLog.Category] == [category.value for category in Category]
    assert all(choice.label != choice.value for choice in SyncLog.Category)


def test_a_category_is_stored_as_its_plain_string():
    assert SyncLog.Category.NOT_FOUND == Category.NOT_FOUND == "not_found"
    assert SyncLog._meta.get_field("error_category").max_length >= max(len(category) for category in Category)
