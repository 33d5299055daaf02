"""System checks flag missing or dangerous configuration at startup."""
import pytest

from crm_sync.activecampaign.client import api_base
from crm_sync.errors import ConfigurationError
from crm_sync.checks import check_activecampaign_settings, check_celery_delivery


def ids(problems):
    return [problem.id for problem in problems]


def test_missing_ac_settings_warn(settings):
    settings.ACTIVECAMPAIGN_URL, settings.ACTIVECAMPAIGN_API_KEY = "", ""
    problems = check_activecampaign_settings(None)
    assert ids(problems) == ["crm_sync.W001"]
    assert "ACTIVECAMPAIGN_URL and ACTIVECAMPAIGN_API_KEY not set" in problems[0].msg


def test_plain_http_to_a_remote_host_is_an_error(settings):
    settings.ACTIVECAMPAIGN_URL, settings.ACTIVECAMPAIGN_API_KEY = "http://example.api-us1.com", "k" * 40
    assert ids(check_activecampaign_settings(None)) == ["crm_sync.E001"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8100", "http://localhost:8100", "http://[::1]:8100",
                                 "https://example.api-us1.com"])
def test_https_and_loopback_http_are_accepted(url):
    assert api_base(url) == url + "/api/3"


@pytest.mark.parametrize("url", ["http://10.0.0.1", "http://example.api-us1.com/", "ftp://example.com", "example.com"])
def test_other_urls_are_refused(url):
    with pytest.raises(ConfigurationError):
        api_base(url)


def test_a_short_redis_visibility_timeout_warns(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 100}
    assert "crm_sync.W004" in ids(check_celery_delivery(None))
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    assert "crm_sync.W004" not in ids(check_celery_delivery(None))


def test_acks_late_off_warns(settings):
    settings.CELERY_TASK_ACKS_LATE = False
    assert "crm_sync.W002" in ids(check_celery_delivery(None))
