"""Scenario 1: the broker unreachable while attendees confirm badges, as
refused connections and as a broker that accepts and never answers (a
stalling proxy). The web app and the worker both reach Redis through the
proxy; the limiter and locks talk to Redis directly (the scenario is about
the broker)."""
import os
import time
from contextlib import contextmanager
from unittest import mock

import pytest
from django.conf import settings
from kombu import pools
from django.test import Client

from badgemaker.accounts.models import User
from badgemaker.badges.models import Event
from badgemaker.celery import app
from crm_sync import outbox, publisher
from crm_sync.models import SyncLog
from tests.reliability.chaos.conftest import PEOPLE, assert_exactly_once, report, wait_until_settled
from tests.badge_pages import confirm_through_web
from tests.processes import TcpProxy

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

PER_MODE = PEOPLE // 2  # two modes: 200 confirmations in all
# Seconds each mode lasts: long enough to see publishing skipped, then tried again.
DOWN_FOR = float(os.environ.get("CHAOS_BROKER_DOWN", 12))


@contextmanager
def publishing_to(url):
    """This process's Celery app publishes to `url` for a while (fresh connection pools)."""
    previous = app.conf.broker_url, app.conf.broker_write_url
    app.conf.broker_url = app.conf.broker_write_url = url
    pools.reset()  # kombu's pools are global and keyed by URL: drop them all
    app._pool, app.amqp._producer_pool = None, None
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_write_url = previous
        pools.reset()
        app._pool, app.amqp._producer_pool = None, None


@contextmanager
def failed_publishes():
    """When each failed publish of this process was given up (the publisher logs one warning per failure)."""
    failures = []
    original = publisher.logger.warning

    def spy(message, *args, **kwargs):
        if "broker unreachable" in message:
            failures.append(time.monotonic())
        return original(message, *args, **kwargs)

    with mock.patch.object(publisher.logger, "warning", side_effect=spy):
        yield failures


@pytest.fixture
def proxy():
    redis_port = int(settings.CELERY_BROKER_URL.split("://", 1)[1].split("/")[0].rsplit(":", 1)[1])
    proxy = TcpProxy(redis_port).start()
    yield proxy
    proxy.stop()


def test_confirmations_stay_fast_while_the_broker_is_down_and_the_sweep_sends_them_after(chaos, proxy, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the web flow's own cost
    db = settings.CELERY_BROKER_URL.rsplit("/", 1)[1]
    through_proxy = proxy.url(path=f"/{db}")
    event = Event.objects.create(name="Broker Con", slug="broker-con", starts_on="2027-10-01")
    published_before = 0
    with publishing_to(through_proxy):
        chaos.workers_up(CELERY_BROKER_URL=through_proxy, CRM_SYNC_REDIS_URL=settings.CELERY_BROKER_URL)
        for mode in ("refuse", "stall"):
            outbox.publisher.down_until = 0.0
            proxy.set_mode(mode)
            slowest = 0.0
            with failed_publishes() as failures:
                down_since = time.monotonic()
                for n in range(PER_MODE):
                    time.sleep(max(0.0, down_since + n * DOWN_FOR / PER_MODE - time.monotonic()))
                    started = time.monotonic()
                    page = confirm_through_web(Client(), event, f"{mode}{n}@example.com", badge_name=f"{mode} {n}")
                    slowest = max(slowest, time.monotonic() - started)
                    assert b"confirmed" in page.content.lower()
                down_for = time.monotonic() - down_since
            queued = SyncLog.objects.filter(status="queued").count()
            published = SyncLog.objects.filter(dispatched_at__isnull=False).count() - published_before
            proxy.set_mode("pass")
            settle = wait_until_settled(90, f"(after the broker came back from {mode})")
            published_before = SyncLog.objects.filter(dispatched_at__isnull=False).count()
            gaps = [b - a for a, b in zip(failures, failures[1:])]
            report(f"1 broker down ({mode})", slowest_confirmation_s=round(slowest, 2),
                   broker_down_s=round(down_for, 1),
                   failed_publishes=len(failures), min_gap_between_tries_s=round(min(gaps), 1) if gaps else None,
                   published_while_down=published, queued_for_the_sweep=queued, all_sent_after_s=round(settle, 1))
            assert slowest < 2.0, f"a confirmation took {slowest:.1f}s while the broker was {mode}d"
            assert published == 0 and queued == PER_MODE
            # After a failure, publishing is skipped for a few seconds: a handful of tries, not one per confirmation.
            assert 1 <= len(failures) <= down_for / publisher.BROKER_BACKOFF_SECONDS + 1
            assert all(gap >= publisher.BROKER_BACKOFF_SECONDS for gap in gaps), gaps
    people = list(User.objects.all())
    assert_exactly_once(chaos.control, people)
    report("1 broker down", wall_s=chaos.elapsed(), people=len(people))
