"""Bad input: the hypothesis profile (HYPOTHESIS_PROFILE, default `ci`, see
tests/hypothesis_profiles.py), and the event of fixtures.py."""
from tests import hypothesis_profiles
from tests.bad_input.fixtures import event  # noqa: F401  (a fixture)

hypothesis_profiles.load()
