"""Security: the sandbox fixtures shared with tests/bad_input."""
from tests.bad_input.fixtures import event, no_broker, sandbox_settings  # noqa: F401  (fixtures)
