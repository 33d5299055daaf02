"""docs/operations.md's metric names are the ones a scrape offers: every
`crm_sync_…` name in its Metrics section (the table, the scrape and PromQL
examples, the alert rules) is exposed, and every metric exposed is in the table
(prometheus_client's `_created` series aside: a single process adds them)."""
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
NAME = re.compile(r"\bcrm_sync_[a-z0-9_]+")

pytestmark = pytest.mark.django_db


def metrics_section():
    text = DOC.read_text()
    start = text.index("\n## Metrics\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_every_name_in_the_docs_is_exposed(scrape, one_process):
    section = metrics_section()
    rules = "\n".join(re.findall(r"```(?:yaml|promql)\n(.*?)```", section, re.DOTALL))
    assert "crm_sync_attempts_total" in rules and "crm_sync_confirmation_to_contact_seconds_bucket" in rules
    exposed = scrape().names()
    assert sorted(set(NAME.findall(section)) - exposed) == []


def test_every_metric_exposed_is_in_the_docs_table(scrape, one_process):
    table = {name for name in re.findall(r"^\| `(crm_sync_[a-z0-9_]+)` \|", metrics_section(), re.MULTILINE)}
    families = {family.name + ("_total" if family.type == "counter" else "")
                for family in scrape().families.values()
                if family.name.startswith("crm_sync_") and not family.name.endswith("_created")}
    assert families == table
