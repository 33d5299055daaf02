"""What a freshly reset sandbox contains: the account's catalog plus decoys.

The real fields and list come from ``account-fields.json`` (a copy of what the
organisers' AC account holds). The decoys are there to catch careless clients:

- fields whose titles or perstags resemble ours (``BADGE_NAME_OLD``,
  "Dietary Preferences (old)") and placed *before* the real ones, so a client
  matching titles loosely picks the wrong one;
- over 100 fields in all, with some real fields after position 100, so a
  client that reads one page of ``/fields`` misses them;
- tags whose names contain ours (``badge-maker-2019``, ``Event: pycon``), more
  than a page of them, so ``search`` (a contains match) floods page one;
- lists with similar names (``badge-maker-attendees-old``, "Badge Maker
  Attendees (archive)") ahead of the real one, which sits past the first page.

The real checkbox fields' options have values that differ from their labels
(``veg`` / "Vegetarian"), as in real accounts (docs/activecampaign.md §11.1):
values are what AC stores, so a client that sends labels is caught. The decoys
and typed fields keep value = label, as fields made in AC's UI usually have.

``build_empty_plan`` is the other starting point: an account with no custom
fields, lists or tags at all, as a new organiser's first deploy meets it.

Everything here is pure: given a ``random.Random`` it returns the same plan.
"""

import json
import pathlib

ACCOUNT_FIELDS_PATH = pathlib.Path(__file__).with_name("account-fields.json")

# label -> value of the real fields' options; account-fields.json lists the
# labels only. A label missing here keeps value = label.
REAL_OPTION_VALUES = {
    "DIETARY_PREFERENCES": {
        "Vegetarian": "veg", "Vegan": "vegan", "Pescatarian": "pesc", "Gluten-free": "gf",
        "Dairy-free": "df", "Nut allergy": "nuts", "Halal": "halal", "Kosher": "kosher",
    },
    "VOLUNTEER_INTERESTS": {
        "Registration desk": "reg", "Setup and teardown": "setup", "Speaker support": "speakers",
        "Photography": "photo", "Social media": "social", "Accessibility support": "a11y",
    },
}

# (title, perstag, type, options). Each lookalike names the real perstag it
# imitates, so the plan can put it in front of that field.
_LOOKALIKE_FIELDS = [
    ("Badge Name (old)", "BADGE_NAME_OLD", "text", [], "BADGE_NAME"),
    ("Badge Name 2019", "BADGE_NAME_2019", "text", [], "BADGE_NAME"),
    ("Dietary Preferences (old)", "DIETARY_PREFERENCES_OLD", "checkbox",
     ["vegetarian", "vegan", "Gluten free", "Other"], "DIETARY_PREFERENCES"),
    ("Dietary", "DIETARY", "dropdown", ["None", "Vegetarian", "Vegan"], "DIETARY_PREFERENCES"),
    ("Dietary Requirements (legacy)", "DIETARY_REQUIREMENTS_LEGACY", "text", [], "DIETARY_REQUIREMENTS"),
    ("Volunteer Interests 2022", "VOLUNTEER_INTERESTS_2022", "checkbox",
     ["Registration", "Setup", "Photography"], "VOLUNTEER_INTERESTS"),
    ("Twitter Handle", "TWITTER_HANDLE", "text", [], "TWITTER"),
    ("Date of Birth (text)", "DOB", "text", [], "DATE_OF_BIRTH"),
    ("Emergency Contact", "EMERGENCY_CONTACT", "text", [], "EMERGENCY_CONTACT_NAME"),
    ("Last Event Attended", "LAST_EVENT_ATTENDED", "text", [], "LAST_EVENT"),
    ("Badge Maker ID", "BADGEMAKER_ID", "text", [], "BADGEMAKER_USER_ID"),
    ("Badge Image", "BADGE_IMAGE", "text", [], "BADGE_IMAGE_URL"),
]

# Fields of every type, for tests that need dropdown/radio/datetime/number.
_TYPED_FIELDS = [
    ("T-Shirt Size", "TSHIRT_SIZE", "dropdown", ["XS", "S", "M", "L", "XL", "XXL"]),
    ("Ticket Type", "TICKET_TYPE", "radio", ["Standard", "Student", "Speaker"]),
    ("Check-in Time", "CHECKIN_TIME", "datetime", []),
    ("Number of Events", "NUMBER_OF_EVENTS", "number", []),
    ("Topics", "TOPICS", "listbox", ["Web", "Data", "Security", "Education"]),
    ("Company", "COMPANY", "text", []),
    ("Job Title", "JOB_TITLE", "text", []),
    ("Accessibility Needs", "ACCESSIBILITY_NEEDS", "textarea", []),
]

_LOOKALIKE_TAGS = [
    "badge-maker-speaker", "badge-maker-volunteer", "Badge Maker Beta", "old-badge-maker",
    "Event: pycon", "event:pycon-2019", "Event: PyCon 2019", "event: pycon (cancelled)",
] + [f"badge-maker-{year}" for year in range(2005, 2025)]
_OTHER_TAGS = ["newsletter", "VIP", "VIP 2024", "speaker", "sponsor", "imported", "do-not-email"]

_LOOKALIKE_LISTS = [
    ("Badge Maker Attendees (archive)", "badge-maker-attendees-old"),
    ("Badge Maker Attendees 2019", "badge-maker-attendees-2019"),
    ("Badge-Maker attendees test", "badge-maker-attendees-test"),
]
_OTHER_LISTS = [
    "Newsletter", "Speakers", "Sponsors", "Volunteers", "Press", "Board", "Members",
    "Workshop Leads", "Meetup Berlin", "Meetup Lisbon", "Meetup Austin", "Alumni",
    "Scholarships", "Partners", "Community Call", "Job Board", "Organisers", "Reviewers",
]


def load_account_catalog():
    """The account's real fields, lists and tags, as in ``account-fields.json``."""
    with ACCOUNT_FIELDS_PATH.open(encoding="utf-8") as f:
        return json.load(f)


def build_plan(rng):
    """The catalog to insert, in insertion (hence id) order.

    Returns ``{"fields": [...], "lists": [...], "tags": [...]}`` where a field
    is ``{"title", "perstag", "type", "options": [{"label", "value"}]}``, a
    list is ``{"name", "stringid"}`` and a tag is ``{"tag"}``.
    """
    account = load_account_catalog()
    return {
        "fields": _field_plan(account["fields"], rng),
        "lists": _list_plan(account["lists"], rng),
        "tags": _tag_plan(account.get("tags", []), rng),
    }


def build_empty_plan():
    """An account with no custom fields, no lists and no tags."""
    return {"fields": [], "lists": [], "tags": []}


def _field(title, perstag, type_, labels, values=None):
    """A planned field; ``values`` maps labels to option values (default: value = label)."""
    values = values or {}
    options = [{"label": label, "value": values.get(label, label)} for label in labels]
    return {"title": title, "perstag": perstag, "type": type_, "options": options}


def _field_plan(real_fields, rng):
    real = [_field(f["title"], f["perstag"], f["type"], f["options"], REAL_OPTION_VALUES.get(f["perstag"]))
            for f in real_fields]
    lookalikes = [(_field(*spec[:4]), spec[4]) for spec in _LOOKALIKE_FIELDS]
    typed = [_field(*spec) for spec in _TYPED_FIELDS]
    fillers = [
        _field(f"Survey {year} Question {n}", f"SURVEY_{year}_Q{n}", "text", [])
        for year in range(2015, 2024) for n in range(1, 11)
    ]
    # Three real fields go to the very end, beyond the first 100.
    tail_real = rng.sample(real, 3)
    head_real = [f for f in real if f not in tail_real]
    head = fillers[:85] + typed + head_real
    rng.shuffle(head)
    # Put each lookalike just before (somewhere ahead of) the field it imitates.
    for decoy, target in lookalikes:
        index = next((i for i, f in enumerate(head) if f["perstag"] == target), len(head))
        head.insert(rng.randint(0, index), decoy)
    tail = fillers[85:] + tail_real
    rng.shuffle(tail)
    return head + tail


def _list_plan(real_lists, rng):
    others = [{"name": name, "stringid": name.lower().replace(" ", "-")} for name in _OTHER_LISTS]
    rng.shuffle(others)
    decoys = [{"name": n, "stringid": s} for n, s in _LOOKALIKE_LISTS]
    real = [{"name": l["name"], "stringid": l["stringid"]} for l in real_lists]
    # Real lists come after the first page of 20 and after their lookalikes.
    return others + decoys + real


def _tag_plan(real_tags, rng):
    names = _LOOKALIKE_TAGS + _OTHER_TAGS + [t if isinstance(t, str) else t["tag"] for t in real_tags]
    rng.shuffle(names)
    return [{"tag": name} for name in names]
