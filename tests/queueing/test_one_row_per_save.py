"""One save of a person's data queues one sync: the saves of one transaction
(the person, their badge, their consent) share one SyncLog row, and a row
lost to a savepoint rollback never takes a later save with it."""
import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings, strategies as st

from crm_sync import outbox
from crm_sync.models import SyncLog
from tests.badge_pages import confirm_through_web, fill_in_badge_page, PASSWORD
from tests.factories import BadgeFactory, EventFactory, UserFactory
from tests.hypothesis_profiles import examples


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)  # each request commits, as in production
def test_a_badge_edit_makes_exactly_one_synclog_row(captured_syncs):
    event = EventFactory()
    client = Client()
    confirm_through_web(client, event, "ada@example.com")
    assert SyncLog.objects.count() == 1  # the confirmation's

    client.login(username="ada@example.com", password=PASSWORD)
    # The badge page saves the person (a new last name, opted out) and the badge (a new name) in one request.
    response = fill_in_badge_page(client, event, "ada@example.com", opt_in=False, last_name="King",
                                  badge_name="Countess of Lovelace")
    assert response.status_code == 302

    edit = SyncLog.objects.exclude(pk=SyncLog.objects.order_by("pk").first().pk)
    assert edit.count() == 1
    assert [sync.log.pk for sync in captured_syncs] == sorted(SyncLog.objects.values_list("pk", flat=True))

    # The next edit is another transaction: a row of its own.
    fill_in_badge_page(client, event, "ada@example.com", opt_in=False, badge_name="Ada")
    assert SyncLog.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_staff_changing_a_person_and_their_consent_make_one_row(captured_syncs):
    person = UserFactory(email="ada@example.com")
    BadgeFactory(user=person, confirmed=True)
    staff = UserFactory(superuser=True, email="admin@example.com", password="badgemaker-demo")
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("admin:accounts_user_change", args=[person.pk]))
    form = {**page.context["adminform"].form.initial, "crm_opt_in": "", "first_name": "Augusta",
            "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00", "last_login_0": "", "last_login_1": "",
            "groups": [], "user_permissions": [], "_save": "Save"}
    form = {key: value for key, value in form.items() if value is not None and key != "password"}
    before = SyncLog.objects.count()

    response = client.post(reverse("admin:accounts_user_change", args=[person.pk]), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert SyncLog.objects.count() == before + 1


@pytest.fixture
def ada(make_user, confirm_badge, captured_syncs):
    person = make_user(email="ada@example.com")
    confirm_badge(person)
    SyncLog.objects.all().delete()
    return person


def dispatched_in(block):
    """Run `block()` as a request would, in its own transaction, and return
    the ids of the rows dispatched when it commits."""
    ids = []
    connection = transaction.get_connection()
    start = len(connection.run_on_commit)
    with outbox.handoff(lambda log_id, countdown=None: ids.append(log_id) or True):
        block()
        for _, callback, _ in connection.run_on_commit[start:]:
            callback()
        del connection.run_on_commit[start:]  # "committed": not again when the test ends
    return ids


@pytest.mark.django_db
def test_saves_in_one_transaction_share_a_row(ada):
    def request():
        with transaction.atomic():
            ada.first_name = "Augusta"
            ada.save()
            badge = ada.badges.get()
            badge.badge_name = "Countess"
            badge.save()
            with transaction.atomic():  # a nested block (record_consent's) is the same transaction
                ada.save()

    ids = dispatched_in(request)
    assert ids == list(SyncLog.objects.values_list("pk", flat=True)) and len(ids) == 1


@pytest.mark.django_db
def test_a_row_rolled_back_with_its_savepoint_never_swallows_a_later_save(ada):
    def request():
        with transaction.atomic():
            with pytest.raises(Boom), transaction.atomic():
                ada.save()  # its row goes with the savepoint
                raise Boom
            ada.first_name = "Augusta"
            ada.save()  # so this one needs a row of its own

    ids = dispatched_in(request)
    assert ids == list(SyncLog.objects.values_list("pk", flat=True)) and len(ids) == 1


@pytest.mark.django_db
def test_a_save_rolled_back_inside_leaves_the_earlier_row(ada):
    def request():
        with transaction.atomic():
            ada.save()
            with pytest.raises(Boom), transaction.atomic():
                ada.save()
                raise Boom

    assert len(dispatched_in(request)) == SyncLog.objects.count() == 1


@pytest.mark.django_db
def test_other_people_and_other_triggers_get_rows_of_their_own(ada, make_user, confirm_badge):
    grace = make_user(email="grace@example.com")
    confirm_badge(grace)
    SyncLog.objects.all().delete()

    def request():
        with transaction.atomic():
            ada.save()
            grace.save()
            outbox.queue_sync(ada, trigger=SyncLog.Trigger.ADMIN)

    assert len(dispatched_in(request)) == SyncLog.objects.count() == 3


# A transaction as a tree: "save" saves the person; a block is (rolls back?, its items).
items = st.recursive(
    st.lists(st.just("save"), min_size=1, max_size=2),
    lambda children: st.lists(st.one_of(st.just("save"), st.tuples(st.booleans(), children)), max_size=4),
    max_leaves=12,
)


@pytest.mark.django_db
@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=items)
def test_whatever_rolls_back_every_surviving_save_is_synced(ada, program):
    """Never lose a save: if any save survives, a row survives and is
    dispatched on commit; without a rollback, exactly one."""
    survived = []

    def run(items, alive):
        for item in items:
            if item == "save":
                ada.save()
                survived.append(alive)
            else:
                rolls_back, children = item
                try:
                    with transaction.atomic():
                        run(children, alive and not rolls_back)
                        if rolls_back:
                            raise Boom
                except Boom:
                    pass

    example = transaction.atomic()
    example._from_testcase = True  # stands for the test's own transaction: each example leaves nothing behind
    with pytest.raises(Boom), example:
        ids = dispatched_in(lambda: run([(False, program)], True))
        rows = set(SyncLog.objects.values_list("pk", flat=True))
        assert set(ids) == rows  # every row written is dispatched, none rolled back is
        if any(survived):
            assert rows
        if all(survived):
            assert len(rows) == (1 if survived else 0)
        raise Boom
