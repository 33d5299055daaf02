"""Pytest fixtures that run an AC sandbox for the test session.

Enable in a project's root ``conftest.py``::

    pytest_plugins = ["crm_sync.sandbox.pytest_plugin"]

- ``ac_sandbox_server`` (session): a started ``Sandbox`` on free loopback
  ports, with its database in a temporary directory and a random 48-character
  API key.
- ``ac_sandbox`` (function): the same sandbox, reset before the test (fresh
  data and ids, empty log and stats, default faults), with ``.control`` set
  to a ``SandboxControl``.
- ``ac_sandbox_empty`` (function): the same, but reset to an account with no
  custom fields, lists or tags (a new organiser's first deploy). Inside a
  test, ``ac_sandbox.reset(empty=True)`` or
  ``ac_sandbox.control.reset(empty=True)`` does the same (and, like any
  reset, restores the default faults).

The defaults are AC's, including 5 requests per second; a test that is not
about the rate limit can raise it with
``ac_sandbox.control.set_faults(rate_limit_per_second=1000)``.
"""

import secrets
import string

import pytest

from .control import SandboxControl
from .server import Sandbox

_KEY_ALPHABET = string.ascii_letters + string.digits


@pytest.fixture(scope="session")
def ac_sandbox_server(tmp_path_factory):
    api_key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(48))
    db_path = tmp_path_factory.mktemp("ac_sandbox") / "ac-sandbox.sqlite3"
    sandbox = Sandbox(db_path, api_key).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def ac_sandbox(ac_sandbox_server):
    ac_sandbox_server.reset()
    ac_sandbox_server.control = SandboxControl(ac_sandbox_server.control_url)
    yield ac_sandbox_server


@pytest.fixture
def ac_sandbox_empty(ac_sandbox_server):
    ac_sandbox_server.reset(empty=True)
    ac_sandbox_server.control = SandboxControl(ac_sandbox_server.control_url)
    yield ac_sandbox_server
