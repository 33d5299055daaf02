"""What attendees type, at its worst: hypothesis strategies for the badge
page's two forms, and the rules the issue's table gives for each value."""
import datetime
import itertools
import re
import string

import grapheme
from django.utils import timezone
from hypothesis import strategies as st

from badgemaker.badges.models import DIETARY_CHOICES, VOLUNTEER_CHOICES
from crm_sync.mapping import LIMITS

# Sent as typed, escaped wherever shown.
HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg/onload=alert(1)>",
    "'; DROP TABLE accounts_user;--", "Robert'); DROP TABLE Students;--", "1' OR '1'='1",
    "{{ 7*7 }}", "{% debug %}", "${jndi:ldap://example.org/a}", "%s%n%x", "\\", "&amp;", "&lt;b&gt;",
    "👨‍👩‍👧‍👦", "🇬🇧🇺🇦", "e\u0301", "Z̷̢̛a̵l̸g̴o̶", "日本語", "مرحبا", "עברית", "\u202eevil\u202c", "\u200b",
    "\ufeff", "ǅ", "ß", "İ", "ﬁ", "\U0001d54f",
    # Tab and newline are kept.
    "\t", "\n",
]
# The mapping strips these (with a warning), so the badge page refuses them.
CONTROLS = ["\r\n", "\x07", "\x1b[31m", "\x7f", "\x0b", "\x0c", "\x1f"]
NUL = "\x00"
# Unicode control characters outside C0 (NEL, C1 controls): see test_c1_control_characters_are_stripped.
C1 = ["\x80", "\x85", "\x9b", "\x9f"]
# Every control character (C0, DEL, C1) but tab and newline: what the mapping strips.
C0_AND_DEL = ({chr(code) for code in range(0x20)} - {"\t", "\n"}) | {chr(code) for code in range(0x7f, 0xa0)}

DIETARY_KEYS = [key for key, _ in DIETARY_CHOICES]
VOLUNTEER_KEYS = [key for key, _ in VOLUNTEER_CHOICES]
UNKNOWN_KEYS = ["paleo", "retired-choice", "<i>x</i>", "VEGAN", " vegan"]

_counter = itertools.count(1)


def unique():
    """A number no other example has (hypothesis replays examples while shrinking)."""
    return next(_counter)


def typed_text(max_pieces=6, nul=True, c1=False, controls=True):
    """Text as an attendee might type or paste it: hostile fragments and any Unicode;
    `controls=False` leaves out every control character but tab and newline (what the badge page refuses)."""
    pieces = list(HOSTILE) + (CONTROLS if controls else []) + ([NUL] if nul else []) + (C1 if c1 else [])
    excluded = ([] if nul else [NUL]) + ([] if c1 else [chr(code) for code in range(0x80, 0xA0)])
    if not controls:
        excluded += sorted(C0_AND_DEL - {NUL})
    piece = st.one_of(
        st.sampled_from(pieces),
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters=excluded), max_size=12),
        st.text(string.ascii_letters + " ", min_size=1, max_size=12),
    )
    return st.lists(piece, max_size=max_pieces).map("".join)


def long_text(limit_key):
    """Text around a limit, ending in multi-code-point graphemes that straddle it."""
    limit = LIMITS[limit_key]
    return st.builds(
        lambda unit, repeat, shift: "x" * (limit + shift - len(unit) * repeat // 2) + unit * repeat,
        st.sampled_from(["a", "é", "e\u0301", "👨‍👩‍👧", "🇬🇧", " ", "\x07", "\t"]),
        st.integers(1, 6),
        st.integers(-4, 4),
    )


def text_up_to(limit_key):
    """Text of at most the limit, ending in multi-code-point graphemes: what the badge page accepts."""
    limit = LIMITS[limit_key]
    return st.builds(
        lambda unit, repeat, back: "x" * (limit - len(unit) * repeat - back) + unit * repeat,
        st.sampled_from(["a", "é", "e\u0301", "👨‍👩‍👧", "🇬🇧", " ", "\t"]),
        st.integers(1, 6),
        st.integers(0, 4),
    )


def text_past(limit_key):
    """Text longer than the limit once trimmed, whatever it ends in: refused by the badge page."""
    limit = LIMITS[limit_key]
    return st.builds(lambda tail, extra: "x" * (limit + extra - len(tail)) + tail,
                     st.sampled_from(["", "é", "👨‍👩‍👧", "🇬🇧x"]), st.integers(1, 4))


def birth_dates():
    """Dates of birth the form accepts (from 1900 to today), or nothing."""
    today = timezone.localdate()
    return st.one_of(
        st.dates(datetime.date(1900, 1, 1), today).map(datetime.date.isoformat),
        st.sampled_from(["", "1900-01-01", today.isoformat()]),
    )


# Phone numbers the mapping sends (in E.164) and ones it would leave out, or cut: refused by the form.
VALID_PHONES = ["020 7946 0018", "+44 20 7946 0018", "07911 123456", "+1 (415) 555-2671", "+33 6 12 34 56 78",
                "(020) 7946-0018", ""]
INVALID_PHONES = ["12345", "+999 1", "0000", "call me", "📞", "07700 900123", "+44 7700 900456", "++44 20",
                  "020 7946 0018 and 020 7946 0019"]
PHONES_WITH_EXTENSIONS = ["+44 20 7946 0018 ext 5", "020 7946 0018 ext. 12", "+1 415 555 2671 x3"]


def phones():
    return st.sampled_from(VALID_PHONES)


def emails(kind="usual"):
    """Addresses Django's form accepts; `kind="any"` adds ones AC (the sandbox) refuses."""
    if kind == "usual":
        local = st.sampled_from(["ada", "first.last", "a+tag", "x_y"])
        domain = st.sampled_from(["example.com", "Example.ORG", "mail.example.co.uk"])
    else:
        # One in four refused by AC (apostrophe, a local part over 64, a non-ASCII domain).
        local = st.sampled_from(["ada", "first.last", "a+tag", "UPPER", "Mixed.Case"] * 2 + ["o'brien", "x" * 70])
        domain = st.sampled_from(["example.com", "Example.ORG", "mail.example.co.uk"] * 3 + ["exämple.com"])
    return st.builds(lambda l, d: f"{l}.{unique()}@{d}", local, domain)


def choice_keys(keys, hostile=True):
    extra = UNKNOWN_KEYS + ["vegan\x00"] if hostile else []
    return st.lists(st.sampled_from(keys + extra), max_size=4, unique=True)


_TEXT = typed_text(max_pieces=4, nul=False, controls=False)
_PHONES = phones()
_BIRTH_DATES = birth_dates()
_EMAILS = {kind: emails(kind) for kind in ("usual", "any")}
_LONG_TEXTAREA = text_up_to("textarea")
_TOO_LONG_TEXTAREA = text_past("textarea")
_DIETARY = choice_keys(DIETARY_KEYS, hostile=False)
_VOLUNTEER = choice_keys(VOLUNTEER_KEYS, hostile=False)
TEXT_INPUTS = ["first_name", "last_name", "email", "phone", "emergency_contact_name", "emergency_contact_phone",
               "twitter", "instagram", "facebook", "linkedin", "tiktok", "badge_name", "dietary_requirements"]
# Text inputs the mapping sends as text (not the email, not the phones).
MAPPED_TEXT_INPUTS = [name for name in TEXT_INPUTS if name not in ("email", "phone", "emergency_contact_phone")]
PHONE_INPUTS = ["phone", "emergency_contact_phone"]
# What the form must refuse; an example holds at most one, so most examples reach the mapping.
REFUSALS = ["nul", "nul choice", "unknown choice", "future birth date", "not a date", "birth date before 1900",
            "control character", "not a phone number", "phone extension", "too long"]


@st.composite
def badge_page_posts(draw, refusals=True, long_values=True, email_kind="usual"):
    """One POST of the badge page (both forms), as a dict of form data, and
    what in it the form must refuse (None, or one of REFUSALS).
    (The strategies are built once: building them per example costs more than the example.)"""
    text = _TEXT
    # One value in eight around the textarea limit: the only one the form lets grow past AC's limit.
    requirements = long_values and draw(st.integers(0, 7)) == 0
    post = {
        "first_name": draw(text), "last_name": draw(text),
        "email": draw(_EMAILS[email_kind]),
        "date_of_birth": draw(_BIRTH_DATES), "phone": draw(_PHONES),
        "emergency_contact_name": draw(text), "emergency_contact_phone": draw(_PHONES),
        "twitter": draw(text), "instagram": draw(text), "facebook": draw(text), "linkedin": draw(text),
        "tiktok": draw(text), "crm_opt_in": "on",
        # Required: sometimes blank (refused), mostly something typed after a name.
        "badge_name": draw(st.sampled_from(["", " ", "Ada "] + ["Ada"] * 12)) + draw(text),
        "dietary_preferences": draw(_DIETARY), "volunteer_interests": draw(_VOLUNTEER),
        "dietary_requirements": draw(_LONG_TEXTAREA if requirements else text),
    }
    refusal = draw(st.sampled_from([None] * 4 + REFUSALS)) if refusals else None
    if refusal == "nul":
        name = draw(st.sampled_from(TEXT_INPUTS))
        at = draw(st.integers(0, len(post[name])))
        post[name] = post[name][:at] + NUL + post[name][at:]
    elif refusal == "nul choice":
        post["dietary_preferences"] = post["dietary_preferences"] + ["vegan\x00"]
    elif refusal == "unknown choice":
        post["dietary_preferences"] = post["dietary_preferences"] + [draw(st.sampled_from(UNKNOWN_KEYS))]
    elif refusal == "future birth date":
        today = timezone.localdate()
        future = st.dates(today + datetime.timedelta(days=1), datetime.date(9999, 12, 31))
        post["date_of_birth"] = draw(future).isoformat()
    elif refusal == "not a date":
        post["date_of_birth"] = draw(st.sampled_from(["2000-02-30", "yesterday", "1990-13-01", "31/02/1990"]))
    elif refusal == "birth date before 1900":
        post["date_of_birth"] = draw(st.dates(datetime.date(1800, 1, 1), datetime.date(1899, 12, 31))).isoformat()
    elif refusal == "control character":
        name = draw(st.sampled_from(MAPPED_TEXT_INPUTS + PHONE_INPUTS))
        control = draw(st.sampled_from([c for c in CONTROLS if c != "\r\n"] + C1))
        at = draw(st.integers(0, len(post[name])))
        # Between letters: several control characters are also white space, which the form trims from the ends.
        post[name] = post[name][:at] + "x" + control + "x" + post[name][at:]
    elif refusal == "not a phone number":
        post[draw(st.sampled_from(PHONE_INPUTS))] = draw(st.sampled_from(INVALID_PHONES))
    elif refusal == "phone extension":
        post[draw(st.sampled_from(PHONE_INPUTS))] = draw(st.sampled_from(PHONES_WITH_EXTENSIONS))
    elif refusal == "too long":
        post["dietary_requirements"] = draw(_TOO_LONG_TEXTAREA)
    return post, refusal


# -- the table's rules, written out once (the oracle) ----------------------------
def expected_text(name, value, limit_key):
    """(what AC should get, the warnings) for a text value, by the issue's table:
    control characters but tab and newline stripped with a warning; a value
    longer than the limit cut at a grapheme boundary, with the original length
    (as typed) and the length actually sent."""
    warnings = []
    kept = "".join(ch for ch in str(value) if ch not in C0_AND_DEL)
    if kept != str(value):
        warnings.append(f"{name}: control characters removed")
    kept = kept.strip()
    limit = LIMITS[limit_key]
    if len(kept) > limit:
        # Between two ASCII characters (not CR LF, gone already) there is always
        # a grapheme boundary (UAX #29): start counting clusters at the last one
        # before the limit, so a 64 KB value costs no more than a short one.
        start = limit
        while start > 0 and not (kept[start - 1].isascii() and kept[start].isascii()):
            start -= 1
        cut = kept[:start]
        for cluster in grapheme.graphemes(kept[start:]):
            if len(cut) + len(cluster) > limit:
                break
            cut += cluster
        kept = cut.rstrip()
        warnings.append(f"{name}: cut to {len(kept)} characters (was {len(str(value))})")
    return kept, warnings


E164 = re.compile(r"^\+[1-9]\d{6,14}$")
