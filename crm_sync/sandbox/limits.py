"""Size and rate limits the sandbox enforces.

``ASSUMED_LIMITS`` is the one table of *assumed* maximum lengths. AC does not
document any length limit for contact attributes or custom field values
(docs/activecampaign.md, open question 4), so these numbers are our guesses, chosen to match
common MySQL column sizes (VARCHAR(255), TEXT). The sandbox rejects longer
values with 422; crm_sync's mapping reads this same table so that it never
sends what the sandbox would refuse.

Importing this module has no side effects and pulls in nothing else.
"""
import json
from pathlib import Path

# ASSUMPTIONS, not documented by AC. Lengths are counted in characters.
# Keys are contact attributes (camelCase, as in contact/sync), custom field
# types (text, hidden, textarea) and "tag" for tag names. The table itself is
# a data file shared with crm_sync's mapping, so the two can never disagree
# (it is data, not code: the sandbox still shares no code with the client).
ASSUMED_LIMITS = {
    key: value
    for key, value in json.loads((Path(__file__).resolve().parent.parent / "ac_assumed_limits.json").read_text()).items()
    if key != "about"
}

# Documented by AC (docs/activecampaign.md §2, §7, §9); kept here so every limit has one home.
RATE_LIMIT_PER_SECOND = 5
BULK_MAX_CONTACTS = 250
BULK_MAX_BYTES = 400_000  # a request must be *under* this many bytes
BULK_MULTI_PER_MINUTE = 100
BULK_SINGLE_PER_MINUTE = 20
PAGE_DEFAULT = 20
PAGE_MAX = 100
