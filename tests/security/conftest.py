"""Security: the event fixture shared with tests/bad_input."""
from tests.bad_input.fixtures import event  # noqa: F401  (a fixture)
