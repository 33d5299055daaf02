"""Whatever an attendee types, the contact AC (the sandbox, over real
sockets) ends up holding is what the mapping produced, the warnings are on
the SyncLog row, an email AC rejects fails as `validation` with AC's text,
and nothing crashes. 200 examples in `ci`; each runs the sync inline."""
import pytest
from hypothesis import assume, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from badgemaker.accounts.forms import AboutYouForm
from badgemaker.accounts.models import User
from badgemaker.badges.forms import BadgeForm
from badgemaker.badges.models import Badge
from crm_sync.mapping import crm_mapping
from crm_sync.connection import make_backend
from crm_sync.mapping import build_contact_payload
from crm_sync.models import SyncLog
from crm_sync.sandbox.validation import email_problem
from crm_sync.attempts import run_attempt
from tests.bad_input import strategies as bad
from tests.hypothesis_profiles import examples

pytestmark = pytest.mark.django_db

POSTS = bad.badge_page_posts(refusals=False, email_kind="any")
RETIRED = st.lists(st.sampled_from(bad.UNKNOWN_KEYS), max_size=2)


@settings(max_examples=examples(200))
@given(post_and_refusal=POSTS, retired_keys=RETIRED)
def test_what_ac_holds_is_what_the_mapping_produced(post_and_refusal, retired_keys, sandbox_settings, event,
                                                   captured_syncs):
    post, _ = post_and_refusal
    about = AboutYouForm(post, instance=User())
    badge_form = BadgeForm(post, instance=Badge(event=event))
    assume(about.is_valid() & badge_form.is_valid())  # refusals are the form tests' business
    person = about.save()
    badge = badge_form.save(commit=False)
    badge.user = person
    badge.dietary_preferences = list(badge.dietary_preferences) + retired_keys  # a choice withdrawn since
    badge.confirm()
    badge.save()  # post_save queues the attempt, as the confirm view does

    log = SyncLog.objects.get(user=person)
    run_attempt(log.pk).follow_up
    log.refresh_from_db()
    expected = build_contact_payload(crm_mapping().load(person))
    make_backend(offline=True).fit(expected)  # choices as the option values the account holds

    assert log.warnings == expected.warnings
    assert log.payload == {**expected.record(), "tags": expected.tags, "list_status": 1}
    contact = sandbox_settings.control.contact(expected.email)
    refused = email_problem(expected.email)
    label(f"{log.status} {log.error_category}".strip() + (" with warnings" if log.warnings else ""))
    if refused:
        # An email AC rejects: the attempt fails as `validation`, with AC's own words.
        assert (log.status, log.error_category) == ("failed", "validation"), log.error_message
        assert refused in log.error_message
        assert contact is None
        return
    assert (log.status, log.error_category) == ("success", ""), log.error_message
    assert contact["email"] == expected.email
    for name in ("firstName", "lastName", "phone"):
        assert (contact[name] or "") == expected.contact.get(name, ""), name
    assert {perstag: value for perstag, value in contact["fields"].items() if value} == expected.fields
    assert sorted(contact["tags"]) == sorted(expected.tags)
    assert contact["lists"] == {"badge-maker-attendees": 1}
