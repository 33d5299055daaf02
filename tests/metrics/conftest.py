"""Scraping crm_sync's metrics endpoint as Prometheus does: with the bearer
token, through Django's test client, read back with prometheus_client's own
parser."""
import secrets

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

METRICS_URL = "/crm/metrics/"
# The names a metric of each type goes by, after its family's name (a
# counter's family drops `_total`; a histogram is named, then sampled as three series).
SUFFIXES = {"counter": ("_total",), "histogram": ("", "_bucket", "_count", "_sum"), "gauge": ("",)}


@pytest.fixture
def metrics_token(settings):
    token = secrets.token_urlsafe(32)
    settings.CRM_SYNC = {**settings.CRM_SYNC, "METRICS_TOKEN": token}
    return token


@pytest.fixture
def one_process(monkeypatch):
    """The scrape reads this process's registry, not a shared directory."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)


@pytest.fixture
def scrape(metrics_token):
    """GET the endpoint with the token; returns a Scraped."""

    def get():
        response = Client().get(METRICS_URL, HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
        assert response.status_code == 200, response.content[:500]
        return Scraped(response.content.decode())

    return get


class Scraped:
    """A scrape's text, its families by name and its samples."""

    def __init__(self, text):
        self.text = text
        self.families = {family.name: family for family in text_string_to_metric_families(text)}

    def samples(self, name, **labels):
        """The samples called `name` whose labels include `labels`."""
        return [sample for family in self.families.values() for sample in family.samples
                if sample.name == name and labels.items() <= sample.labels.items()]

    def total(self, name, **labels):
        return sum(sample.value for sample in self.samples(name, **labels))

    def value(self, name, **labels):
        (sample,) = self.samples(name, **labels)
        return sample.value

    def names(self):
        """Every sample name the scrape offers, counting those of a family
        declared with no sample yet (a labelled counter never incremented)."""
        names = {sample.name for family in self.families.values() for sample in family.samples}
        for family in self.families.values():
            names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        return names
