"""`manage.py check --deploy` on a production deployment: silent about
crm_sync when everything is set (tests/deploy/production.env with
prod_settings.py), and one warning naming the setting, pointing at
docs/deploy.md, for each production setting taken away or left wrong."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
PRODUCTION_ENV = HERE / "production.env"
# Variables of this test run that would otherwise reach the subprocess and change its settings.
CLEARED_PREFIXES = ("DATABASE_URL", "CELERY_", "ACTIVECAMPAIGN_", "CRM_SYNC_", "BADGEMAKER_", "DJANGO_",
                    "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


def production_environment():
    """production.env's variables, as systemd's EnvironmentFile= reads them."""
    lines = PRODUCTION_ENV.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def check_deploy(tmp_path, **changes):
    """Run `manage.py check --deploy` with production's environment, each of
    `changes` set (a string) or taken away (None); return {check id: its text}."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(CLEARED_PREFIXES)}
    environment.update(production_environment())
    # The metrics directory exists before any process starts (docs/deploy.md).
    environment["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    # Should a setting fall back to the filesystem broker, its folders go here, not in var/.
    environment["CELERY_FILESYSTEM_BROKER_DIR"] = str(tmp_path / "broker")
    for name, value in changes.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    environment["DJANGO_SETTINGS_MODULE"] = "tests.deploy.prod_settings"
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    # Each issue is "?: (id) message" followed by an optional "\tHINT: ..." line.
    issues = re.findall(r"^\S*: \(([\w.]+)\) (.*(?:\n\tHINT: .*)?)", output, flags=re.MULTILINE)
    return dict(issues), output


def test_a_correctly_configured_production_has_nothing_to_report(tmp_path):
    issues, output = check_deploy(tmp_path)
    assert issues == {}, output
    assert "System check identified no issues" in output


# (what is taken away or left wrong, the environment's change, the warning, the setting it names)
MISSING = [
    ("AC URL", {"ACTIVECAMPAIGN_URL": None}, "crm_sync.W001", "ACTIVECAMPAIGN_URL"),
    ("AC URL over plain http", {"ACTIVECAMPAIGN_URL": "http://example.api-us1.com"}, "crm_sync.E001", "https"),
    ("AC API key", {"ACTIVECAMPAIGN_API_KEY": None}, "crm_sync.W001", "ACTIVECAMPAIGN_API_KEY"),
    ("public URL", {"BADGEMAKER_PUBLIC_URL": None}, "crm_sync.W020", "PUBLIC_BASE_URL"),
    ("public URL over http", {"BADGEMAKER_PUBLIC_URL": "http://badges.example.org"}, "crm_sync.W020",
     "PUBLIC_BASE_URL"),
    ("production URL", {"CRM_SYNC_PRODUCTION_URL": None}, "crm_sync.W021", "PRODUCTION_URL"),
    ("metrics token", {"CRM_SYNC_METRICS_TOKEN": None}, "crm_sync.W022", "METRICS_TOKEN"),
    ("short metrics token", {"CRM_SYNC_METRICS_TOKEN": "x" * 31}, "crm_sync.W022", "METRICS_TOKEN"),
    ("database", {"DATABASE_URL": None}, "crm_sync.W024", "DATABASE_URL"),
    ("Redis for shared state", {"CRM_SYNC_REDIS_URL": ""}, "crm_sync.W025", "REDIS_URL"),
    ("webhook tokens", {"CRM_SYNC_WEBHOOK_TOKENS": None}, "crm_sync.W026", "WEBHOOK_TOKENS"),
    ("alert channels", {"DJANGO_ADMINS": None, "CRM_SYNC_ALERT_WEBHOOK_URL": None}, "crm_sync.W027", "ADMINS"),
    ("metrics directory", {"PROMETHEUS_MULTIPROC_DIR": None}, "crm_sync.W028", "PROMETHEUS_MULTIPROC_DIR"),
]


# Other warnings the same change rightly brings: the webhook URL is built from the
# public URL, so its token would cross the network in clear (W010).
ALSO = {"public URL over http": {"crm_sync.W010"}}


@pytest.mark.parametrize("changes, check_id, setting, also",
                         [(*case[1:], ALSO.get(case[0], set())) for case in MISSING], ids=[case[0] for case in MISSING])
def test_each_production_setting_taken_away_is_named(tmp_path, changes, check_id, setting, also):
    if "DATABASE_URL" in changes:  # back to Badge Maker's default, the SQLite file under var/, read by no one here
        changes = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    issues, output = check_deploy(tmp_path, **changes)
    assert set(issues) == {check_id} | also, output
    assert setting in issues[check_id]
    assert "docs/deploy.md" in issues[check_id]


def test_the_embedded_broker_is_named_and_so_is_redis_it_no_longer_gives(tmp_path):
    issues, output = check_deploy(tmp_path, CELERY_BROKER_URL=None)
    assert set(issues) == {"crm_sync.W023", "crm_sync.W025"}, output
    assert "CELERY_BROKER_URL" in issues["crm_sync.W023"] and "filesystem://" in issues["crm_sync.W023"]


@pytest.mark.parametrize("channel", ["DJANGO_ADMINS", "CRM_SYNC_ALERT_WEBHOOK_URL"])
def test_one_alert_channel_is_enough(tmp_path, channel):
    issues, output = check_deploy(tmp_path, **{channel: None})
    assert issues == {}, output


@pytest.mark.parametrize("changes, django_id", [({"DJANGO_SECRET_KEY": None}, "security.W009"),
                                                ({"DJANGO_DEBUG": None}, "security.W018")],
                         ids=["secret key", "debug"])
def test_djangos_own_settings_are_left_to_djangos_checks(tmp_path, changes, django_id):
    issues, output = check_deploy(tmp_path, **changes)
    assert set(issues) == {django_id}, output
