"""The test seam (crm_sync.testing) used as a host project's own tests would
use it: capture what crm_sync would send for a confirmed badge, or run the
sync at once against the AC sandbox. No broker and no worker either way."""
import pytest

from crm_sync.models import SyncLog
from crm_sync.sync import Action, Reason
from crm_sync.testing import capture_syncs, run_syncs_eagerly
from tests.factories import BadgeFactory, UserFactory

pytestmark = pytest.mark.django_db


def confirm_a_badge(**person):
    """Ada confirms her badge for PyCon 2026 (the save queues a sync, as the confirm view's does)."""
    ada = UserFactory(**{"email": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace",
                         "twitter": "@ada", **person})
    return BadgeFactory(user=ada, badge_name="Countess Ada", dietary_preferences=["vegan"], confirmed=True)


def assert_never_reached_a_broker(log):
    log.refresh_from_db()
    # The outbox stamps dispatched_at only once a broker took the task.
    assert (log.status, log.dispatched_at, log.task_id) == ("queued", None, "")
    assert SyncLog.objects.filter(status="queued").count() == 1


@pytest.mark.django_db(transaction=True)  # the confirmation really commits, so the sync really is handed over
def test_a_confirmed_badge_is_captured_with_its_fields_and_tags_and_reaches_no_broker(ac_settings):
    with capture_syncs() as syncs:
        badge = confirm_a_badge()

    (sync,) = syncs
    assert syncs.last(email=" ADA@example.com ") is sync and sync.email == "ada@example.com"
    assert (sync.log.user, sync.log.badge) == (badge.user, badge)
    assert sync.plan.action is Action.SEND
    payload = sync.plan.payload
    assert payload.email == "ada@example.com"
    assert payload.contact == {"firstName": "Ada", "lastName": "Lovelace"}
    assert payload.fields["BADGE_NAME"] == "Countess Ada"
    assert payload.fields["DIETARY_PREFERENCES"] == "||Vegan||"
    assert payload.fields["TWITTER"] == "@ada"
    assert payload.fields["LAST_EVENT"] == "PyCon 2026"
    assert payload.fields["BADGEMAKER_USER_ID"] == str(badge.user_id)
    assert payload.tags == ["badge-maker", "event:pycon-2026"]
    assert_never_reached_a_broker(sync.log)


def test_inside_a_tests_transaction_the_sync_is_captured_when_the_block_ends(ac_settings):
    """pytest-django's `db` (like Django's TestCase) never commits: the seam hands the sync over at the block's end."""
    with capture_syncs() as syncs:
        badge = confirm_a_badge()
        assert syncs == []  # still waiting for a commit

    (sync,) = syncs
    assert sync.log.badge == badge and sync.plan.payload.fields["BADGE_NAME"] == "Countess Ada"
    assert_never_reached_a_broker(sync.log)


def test_an_opted_out_persons_plan_says_why_nothing_would_be_sent(ac_settings):
    with capture_syncs() as syncs:
        confirm_a_badge(crm_opt_in=False)

    sync = syncs.last(email="ada@example.com")
    assert (sync.plan.action, sync.plan.reason, sync.plan.payload) == (Action.NOTHING, Reason.NOT_OPTED_IN, None)
    assert str(sync.plan.reason) == "not opted in: not sent to AC"
    assert_never_reached_a_broker(sync.log)


def test_run_eagerly_the_contact_lands_in_the_sandbox(ac_sandbox, settings):
    settings.ACTIVECAMPAIGN_URL = ac_sandbox.url
    settings.ACTIVECAMPAIGN_API_KEY = ac_sandbox.api_key
    settings.CRM_SYNC = {**settings.CRM_SYNC, "RATE_LIMIT_PER_SECOND": 1000.0}
    ac_sandbox.control.set_faults(rate_limit_per_second=1000)  # this test is not about AC's rate limit

    with run_syncs_eagerly() as ran:
        badge = confirm_a_badge()

    assert [(log.user, log.status, log.error_message) for log in ran] == [(badge.user, "success", "created in AC")]
    contact = ac_sandbox.control.contact("ada@example.com")
    assert (contact["firstName"], contact["lastName"]) == ("Ada", "Lovelace")
    assert contact["fields"]["BADGE_NAME"] == "Countess Ada"
    assert contact["fields"]["DIETARY_PREFERENCES"] == "||vegan||"  # the option value the account holds
    assert sorted(contact["tags"]) == ["badge-maker", "event:pycon-2026"]
    assert contact["lists"] == {"badge-maker-attendees": 1}
