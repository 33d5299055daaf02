"""The demo's settings reach commands run from the checkout through `.env`,
and nothing else: a variable set in the environment wins over it, a test run
never reads it, and a `.env` someone wrote themselves is left alone."""
import importlib.util
import stat

from .conftest import in_a_second_shell

SHOW_URL = ".venv/bin/python manage.py shell -c 'from django.conf import settings; print(settings.ACTIVECAMPAIGN_URL)'"
# Run by pytest in the checkout beside a .env: what a test sees of the settings.
PROBE = '''
import os
from django.conf import settings

def test_the_settings_are_the_defaults():
    assert settings.ACTIVECAMPAIGN_URL == "" and "ACTIVECAMPAIGN_URL" not in os.environ
'''


def load_demo_script(checkout):
    spec = importlib.util.spec_from_file_location("demo_script", checkout / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_command_reads_env_and_a_variable_set_in_the_environment_wins(checkout):
    (checkout / ".env").write_text("ACTIVECAMPAIGN_URL=http://127.0.0.1:8100\n")

    assert in_a_second_shell(SHOW_URL, checkout).stdout.split()[-1] == "http://127.0.0.1:8100"
    explicit = in_a_second_shell(SHOW_URL, checkout, env={"ACTIVECAMPAIGN_URL": "https://ci.api-us1.com"})
    assert explicit.stdout.split()[-1] == "https://ci.api-us1.com"


def test_a_test_run_never_reads_env(checkout):
    (checkout / ".env").write_text("ACTIVECAMPAIGN_URL=http://127.0.0.1:8100\n")
    (checkout / "tests" / "test_probe.py").write_text(PROBE)

    run = in_a_second_shell(".venv/bin/python -m pytest -q -p no:cacheprovider tests/test_probe.py", checkout)

    assert run.returncode == 0, run.stdout + run.stderr


def test_the_demo_writes_env_for_its_owner_only_and_leaves_your_own_alone(checkout):
    demo_script = load_demo_script(checkout)
    env_file = checkout / ".env"

    assert demo_script.write_env_file({"ACTIVECAMPAIGN_URL": "http://127.0.0.1:8100"})
    assert "\nACTIVECAMPAIGN_URL=http://127.0.0.1:8100\n" in env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # it holds the demo's API key
    assert demo_script.write_env_file({"ACTIVECAMPAIGN_URL": "http://127.0.0.1:9100"})  # the next start's
    assert "ACTIVECAMPAIGN_URL=http://127.0.0.1:9100" in env_file.read_text()

    env_file.write_text("ACTIVECAMPAIGN_URL=https://mine.api-us1.com\n")
    assert not demo_script.write_env_file({"ACTIVECAMPAIGN_URL": "http://127.0.0.1:8100"})
    assert env_file.read_text() == "ACTIVECAMPAIGN_URL=https://mine.api-us1.com\n"
