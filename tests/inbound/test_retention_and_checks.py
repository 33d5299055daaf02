"""The inbox is personal data: the retention purge redacts and deletes it
like SyncLog rows. And the system check on the webhook tokens."""
import datetime

import pytest
from django.utils import timezone

from crm_sync.checks import check_webhook_tokens
from crm_sync.conf import webhook_tokens
from crm_sync.crm import UNSUBSCRIBED
from crm_sync.models import ConsentRecord, InboxEvent
from crm_sync.retention import purge_old_logs
from crm_sync.webhooks import token_number
from tests.inbound.conftest import TOKEN, processed, receive

D = datetime.timedelta(days=1)


@pytest.mark.django_db
def test_the_purge_redacts_then_deletes_processed_inbox_rows(ada, crm):
    crm.statuses["42"] = UNSUBSCRIBED
    ancient = processed(receive("unsubscribe", when=timezone.now() - 100 * D))
    old = processed(receive("update", when=timezone.now() - 40 * D))
    recent = processed(receive("update", when=timezone.now() - 2 * D))
    waiting = receive("bounce", when=timezone.now() - 100 * D)
    for event, age in ((ancient, 100), (old, 40), (recent, 2), (waiting, 100)):
        InboxEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - age * D)

    result = purge_old_logs(older_than_days=90, redact_after_days=30)

    assert (result.inbox_deleted, result.inbox_redacted) == (1, 1)
    assert not InboxEvent.objects.filter(pk=ancient.pk).exists()
    old.refresh_from_db()
    assert old.email == "" and "ada@example.com" not in str(old.payload) and old.redacted_at is not None
    assert old.payload["contact"].keys() == {"id", "email"}  # the shape stays
    assert old.event_type == "update" and old.outcome == "ignored"
    recent.refresh_from_db()
    assert recent.email == "ada@example.com"
    assert InboxEvent.objects.get(pk=waiting.pk).email == "ada@example.com"  # still the sweep's
    # The consent record is the person's history: kept, without the row.
    record = ConsentRecord.objects.get(person=ada)
    assert record.inbox_event is None and record.opted_in is False


@pytest.mark.django_db
def test_a_dry_run_counts_inbox_rows_and_changes_nothing(ada, crm):
    event = processed(receive("update"))
    InboxEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - 100 * D)

    result = purge_old_logs(older_than_days=90, redact_after_days=30, dry_run=True)

    assert result.inbox_deleted == 1
    assert InboxEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize("tokens, ids", [
    ([], []),
    ([TOKEN], []),
    ([TOKEN, TOKEN[::-1]], []),
    (["x" * 21], ["crm_sync.E011"]),                 # 126 bits at best
    (["a" * 21 + "!"], ["crm_sync.E011"]),           # a URL can't carry it
    ([TOKEN, TOKEN[::-1], TOKEN[1:]], ["crm_sync.E010"]),
])
def test_the_token_check(settings, tokens, ids):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "WEBHOOK_TOKENS": tokens, "PUBLIC_BASE_URL": "https://badges.example.org"}

    problems = check_webhook_tokens(None)

    assert [problem.id for problem in problems] == ids
    assert not any(token in str(problem) for problem in problems for token in tokens)


def test_the_token_check_warns_of_plain_http(settings):
    settings.CRM_SYNC = {**settings.CRM_SYNC, "WEBHOOK_TOKENS": [TOKEN],
                         "WEBHOOK_URL": "http://badges.example.org/crm/"}

    assert [problem.id for problem in check_webhook_tokens(None)] == ["crm_sync.W010"]


def test_blank_tokens_count_as_none(settings):
    """An empty CRM_SYNC_WEBHOOK_TOKENS gives [""]: no token, not an empty one that anything matches."""
    settings.CRM_SYNC = {**settings.CRM_SYNC, "WEBHOOK_TOKENS": ["", " "]}

    assert webhook_tokens() == []
    assert token_number("") is None
