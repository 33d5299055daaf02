"""Hypothesis profiles for the property-based tests, chosen by the
environment variable HYPOTHESIS_PROFILE (default `ci`).

- `ci`: derandomized (the same examples on every run and every machine, so a
  red CI run is red again locally), with the failing example's blob printed
  (`@reproduce_failure`) so it can be replayed exactly.
- `soak`: random examples, ten times as many, for a long run by hand:
  `HYPOTHESIS_PROFILE=soak .venv/bin/pytest tests/bad_input`.

Tests name how many examples they want in `ci` through `examples(n)`; `soak`
multiplies that. No deadline: the examples touch the database and sockets,
whose timing says nothing about the property.
"""
import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SOAK_FACTOR = 10

_COMMON = dict(
    deadline=None,
    print_blob=True,
    # The examples share pytest-django's database fixtures (each example
    # creates its own rows), and some examples are big strings on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.register_profile("ci", derandomize=True, database=None, max_examples=100, **_COMMON)
settings.register_profile("soak", derandomize=False, max_examples=100 * SOAK_FACTOR, **_COMMON)


def load():
    if PROFILE not in ("ci", "soak"):
        raise ValueError(f"HYPOTHESIS_PROFILE must be 'ci' or 'soak', not {PROFILE!r}")
    settings.load_profile(PROFILE)


def examples(ci_count):
    """How many examples a test runs: `ci_count` in ci, SOAK_FACTOR times that in soak."""
    return ci_count * (SOAK_FACTOR if PROFILE == "soak" else 1)
