"""The rules values must pass, as pure functions.

Each ``*_problem`` function returns ``None`` when the value is acceptable and
otherwise a short human-readable reason. Callers wrap the reason in whichever
error shape their endpoint uses (AC's shapes differ per endpoint).

A blank value ("" or null) is always acceptable for anything but the email:
AC writes blanks over stored values (docs/activecampaign.md §3.1), and so does the sandbox.
"""

import datetime
import re

from .limits import ASSUMED_LIMITS

# Local-part characters we accept: RFC 5322 "atext" minus the apostrophe,
# because AC's own bulk-import example lists "invalid'character@example.com"
# as a failure (docs/activecampaign.md §7). Non-ASCII is refused (AC's handling is unknown,
# docs/activecampaign.md open question 7, so we take the strict side).
_LOCAL_CHARS = re.compile(r"^[A-Za-z0-9!#$%&*+/=?^_`{|}~.-]+$")
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_TLD = re.compile(r"^(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

MULTI_VALUE_TYPES = ("checkbox", "listbox")
SINGLE_OPTION_TYPES = ("dropdown", "radio")


def email_problem(email):
    """Why ``email`` is not an address the sandbox accepts, or None."""
    if not isinstance(email, str) or email == "":
        return "Email address is required"
    if len(email) > ASSUMED_LIMITS["email"]:
        return f"Email address is longer than {ASSUMED_LIMITS['email']} characters"
    if any(ch.isspace() for ch in email):
        return "Email address contains whitespace"
    if email.count("@") != 1:
        return "Email address must contain exactly one @"
    local, domain = email.split("@")
    if not local:
        return "Email address has an empty local part"
    if len(local) > 64:
        return "Email address local part is longer than 64 characters"
    if not _LOCAL_CHARS.match(local):
        return "Email address local part contains characters that are not allowed"
    if ".." in local or local.startswith(".") or local.endswith("."):
        return "Email address local part has a misplaced dot"
    if not domain or "." not in domain:
        return "Email address domain must contain a dot"
    labels = domain.split(".")
    if any(not _DOMAIN_LABEL.match(label) for label in labels):
        return "Email address domain is not valid"
    if not _TLD.match(labels[-1]):
        return "Email address top-level domain is not valid"
    return None


def text_problem(limit_key, value):
    """Why ``value`` is not acceptable as a string limited by ``ASSUMED_LIMITS[limit_key]``."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "Value must be a string"
    limit = ASSUMED_LIMITS[limit_key]
    if len(value) > limit:
        return f"Value is longer than {limit} characters"
    return None


def field_value_problem(field_type, value, option_values):
    """Why ``value`` cannot be stored in a custom field of ``field_type``, or None.

    ``option_values`` are the ``value`` attributes of the field's options,
    which may differ from their labels (``veg`` / "Vegetarian", as in real
    accounts, docs/activecampaign.md §11.1). A value matching no option is
    refused: AC stores it silently, which hides a client's mistake, so the
    sandbox is deliberately stricter here. Encodings follow docs/activecampaign.md §4:
    checkbox/listbox take ``||A||B||``; dropdown/radio take exactly one plain
    option value; date takes a real ``YYYY-MM-DD``; datetime takes ISO 8601
    with a UTC offset.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        # AC's docs only ever show strings; refusing numbers and arrays makes
        # a client that sends them fail here rather than store something odd.
        return "Value must be a string"
    if field_type in ("text", "hidden", "textarea"):
        return text_problem(field_type, value)
    if field_type == "date":
        return _date_problem(value)
    if field_type == "datetime":
        return None if parse_datetime(value) else "Value must be an ISO 8601 datetime with a UTC offset"
    if field_type == "number":
        try:
            float(value)
        except ValueError:
            return "Value must be a number"
        return None
    if field_type in SINGLE_OPTION_TYPES:
        if value not in option_values:
            return f"'{value}' is not one of the field's options"
        return None
    if field_type in MULTI_VALUE_TYPES:
        return _multi_value_problem(value, option_values)
    return None


def _date_problem(value):
    if not _DATE.match(value):
        return "Date must be formatted YYYY-MM-DD"
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return "Date is not a real calendar date"
    return None


def _multi_value_problem(value, option_values):
    if len(value) < 5 or not value.startswith("||") or not value.endswith("||"):
        return "Multiple values must be written ||A||B|| (leading and trailing ||)"
    chosen = value[2:-2].split("||")
    if any(item == "" for item in chosen):
        return "Multiple values contain an empty item"
    if len(set(chosen)) != len(chosen):
        return "Multiple values repeat an option"
    unknown = [item for item in chosen if item not in option_values]
    if unknown:
        return f"'{unknown[0]}' is not one of the field's options"
    return None


def parse_datetime(value):
    """An aware ``datetime`` for an ISO 8601 string with an offset, else None."""
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_id(value):
    """The int id in ``value`` (an int or a string of digits), else None.

    AC accepts ids as ints or numeric strings (docs/activecampaign.md §1).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value) or None
    return None
