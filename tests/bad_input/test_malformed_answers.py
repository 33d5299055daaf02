"""AC answers that break its docs (an HTML page with 200, an empty body, a
`{"message": ...}` body, `errors` as a string) become a clear SyncLog error,
never a crashed worker: a real worker process against the sandbox's
`malformed` faults, then the fault is cleared and the worker syncs on."""
import pytest

from crm_sync.attempts import run_attempt
from crm_sync.models import SyncLog
from crm_sync.testing import capture_syncs
from tests.processes import wait_for


# What the sandbox sends for each fault (crm_sync/sandbox/server.py), and how to tell a message names it.
NAMES_WHAT_AC_SENT = {
    "html": lambda message: "html" in message.lower(),
    "empty": lambda message: "empty" in message.lower(),
    "message": lambda message: "An unexpected error occurred." in message,
    "errors_string": lambda message: "Request failed. Please try again later." in message,
}


@pytest.fixture
def worker_settings():
    """The worker's extra environment (tests/conftest.py): one malformed answer must not open the breaker."""
    return {"CRM_SYNC_BREAKER_FAILURES": 1000}


class UnclearErrorMessage(AssertionError):
    """The SyncLog message does not say what AC sent. Raised last, so that an
    xfail for it never hides a crash or a stuck worker (those fail as usual)."""


FAULTS = [  # (malformed, malformed_status, the category expected)
    # (An HTML page with 200 is a refused key, not a malformed answer: test_an_html_page_with_200_… below.)
    ("empty", None, "bad_response"),
    ("message", None, "bad_response"),
    ("errors_string", None, "bad_response"),
    ("html", 422, "bad_response"),  # a 4xx that is not AC's JSON comes from a proxy, not AC
]


def confirm_someone(make_user, confirm_badge, name):
    person = make_user(email=f"{name}@example.com")
    confirm_badge(person, badge_name=name)  # post_save queues it; the worker takes it on commit
    return person


def latest(person):
    return SyncLog.objects.filter(user=person).order_by("-id").first()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_malformed_answers_are_clear_failures_and_the_worker_syncs_on(worker, ac_sandbox, make_user, confirm_badge):
    """One worker through every fault in turn. Robustness is asserted as it goes
    (a failure there fails the test outright); whether each message names what AC
    sent is checked last, for all faults at once."""
    control = ac_sandbox.control
    control.set_faults(rate_limit_per_second=1000)
    messages = {}
    for n, (mode, status, category) in enumerate(FAULTS):
        control.set_faults(malformed=mode, malformed_status=status, malformed_rate=1.0)
        victim = confirm_someone(make_user, confirm_badge, f"victim{n}")

        failed = wait_for(lambda: SyncLog.objects.filter(user=victim, status="failed").first(), timeout=30)
        control.set_faults(malformed=None, malformed_status=None)
        assert failed, f"{mode} {status}: no failed attempt\n{worker.output()[-4000:]}"
        messages[mode, status] = message = failed.error_message
        assert failed.error_category == category, message
        assert f"AC answered {status or 2}" in message or f"({status})" in message, message
        assert failed.requests and failed.requests[-1]["status"] is not None

        # The worker is alive and syncs the next badge; a retryable failure heals on its own.
        assert worker.process.poll() is None, worker.output()[-4000:]
        after = confirm_someone(make_user, confirm_badge, f"after{n}")
        assert wait_for(lambda: latest(after).status == "success", timeout=30), worker.output()[-4000:]
        assert control.contact(f"after{n}@example.com")["fields"]["BADGE_NAME"] == f"after{n}"
        if category == "bad_response":
            assert wait_for(lambda: latest(victim).status == "success", timeout=30), worker.output()[-4000:]

    assert worker.process.poll() is None
    assert "Unrecoverable error" not in worker.output() and "Traceback" not in worker.output()
    print("\n".join(f"{mode} {status}: {message}" for (mode, status), message in messages.items()))
    unclear_ones = {key: message for key, message in messages.items() if not NAMES_WHAT_AC_SENT[key[0]](message)}
    if unclear_ones:
        raise UnclearErrorMessage(f"these SyncLog messages do not say what AC sent: {unclear_ones}")


@pytest.fixture
def inline_sync(sandbox_settings, make_user, confirm_badge):
    """Sync one confirmed badge inline (no worker, no broker: the seam captures it) and return its SyncLog row."""

    def sync(name):
        with capture_syncs() as captured:
            person = confirm_someone(make_user, confirm_badge, name)
        log = latest(person)
        assert [queued.log.pk for queued in captured] == [log.pk]
        run_attempt(log.pk).follow_up
        log.refresh_from_db()
        return log

    return sync


@pytest.mark.django_db
@pytest.mark.parametrize("mode, status, category", [
    pytest.param("empty", None, "bad_response", id="empty-200"),
    pytest.param("message", None, "bad_response", id="message-200"),
    pytest.param("errors_string", None, "bad_response", id="errors-string-200"),
    # A 4xx that is not AC's JSON comes from a proxy in front of AC: retried, not blamed on the data.
    pytest.param("html", 422, "bad_response", id="html-422"),
    pytest.param("message", 422, "validation", id="message-422"),
    pytest.param("errors_string", 422, "validation", id="errors-string-422"),
])
def test_each_malformed_answer_is_named_in_the_synclog(sandbox_settings, inline_sync, mode, status, category):
    """The same message, fault by fault (the worker adds nothing to it: it runs this same run_sync)."""
    sandbox_settings.control.set_faults(malformed=mode, malformed_status=status, malformed_rate=1.0)
    log = inline_sync("victim")
    assert (log.status, log.error_category) == ("failed", category)
    if not NAMES_WHAT_AC_SENT[mode](log.error_message):
        raise UnclearErrorMessage(f"the SyncLog says {log.error_message!r}; AC sent {mode!r}")


@pytest.mark.django_db
def test_an_html_page_with_200_is_a_configuration_problem_and_the_row_waits_unspent(sandbox_settings, inline_sync):
    """How AC answers a wrong or expired key (docs/activecampaign.md §11): not an outage, not the data."""
    sandbox_settings.control.set_faults(malformed="html", malformed_status=None, malformed_rate=1.0)
    log = inline_sync("victim")
    assert (log.status, log.attempt) == ("queued", 1)
    assert "circuit breaker open (configuration)" in log.error_message
    assert NAMES_WHAT_AC_SENT["html"](log.error_message), log.error_message
