"""Bad input: the hypothesis profile (HYPOTHESIS_PROFILE, default `ci`, see
tests/hypothesis_profiles.py), and the sandbox fixtures (fixtures.py)."""
from tests import hypothesis_profiles
from tests.bad_input.fixtures import event, no_broker, sandbox_settings  # noqa: F401  (fixtures)

hypothesis_profiles.load()
