"""Fixtures for the sandbox's own tests.

The sandbox fixtures come from its pytest plugin (imported rather than listed
in ``pytest_plugins``, which pytest only honours in the rootdir conftest).
``api`` is a thin client that speaks to the sandbox as a careful AC client
would; it lifts the rate limit, which only the rate-limit tests exercise.
"""

import pytest
import requests

from crm_sync.sandbox.pytest_plugin import *  # noqa: F401,F403  (ac_sandbox, ac_sandbox_server)


class ApiClient:
    """``requests`` against ``/api/3`` with the sandbox's key."""

    def __init__(self, sandbox, api_key=None):
        self.base = sandbox.api_url
        self.session = requests.Session()
        self.session.headers["Api-Token"] = api_key or sandbox.api_key

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def sync(self, **contact):
        return self.post("/contact/sync", json={"contact": contact})


@pytest.fixture
def control(ac_sandbox):
    return ac_sandbox.control


@pytest.fixture
def api(ac_sandbox):
    ac_sandbox.control.set_faults(rate_limit_per_second=1000)
    return ApiClient(ac_sandbox)


@pytest.fixture
def catalog(ac_sandbox):
    """``catalog.field("PERSTAG")`` -> field dict; ``.list("stringid")``, ``.tag("name")``."""
    data = ac_sandbox.control.catalog()

    class Catalog:
        fields, lists, tags = data["fields"], data["lists"], data["tags"]

        @staticmethod
        def field(perstag):
            return next(f for f in data["fields"] if f["perstag"] == perstag)

        @staticmethod
        def list(stringid):
            return next(item for item in data["lists"] if item["stringid"] == stringid)

        @staticmethod
        def tag(name):
            return next(t for t in data["tags"] if t["name"] == name)

    return Catalog
