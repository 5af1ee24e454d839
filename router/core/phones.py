"""Caller numbers: normalisation to E.164 and the time zone a number implies.

Caller ID is attacker-controlled text; everything here treats it as such and never raises.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import timezone as pn_timezone

ANONYMOUS_WORDS = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld",
                             "asterisk", "<unknown>", "none", "null"})
_URI = re.compile(r"^(?:.*<)?(?:sips?|tel):([^@;>]*)", re.IGNORECASE)
_JUNK = re.compile(r"[\s\-().\[\]/]")
_DIGITS = re.compile(r"^\+?[0-9]{1,20}$")


class Number(NamedTuple):
    """What a caller ID string turned out to be.

    `key` is what history and the directory are keyed by: E.164 when the number could be read,
    else the bare digits (an internal extension), else empty for an anonymous caller.
    A tuple of plain values, so that the garbage collector stops tracking the (many) cached ones.
    """

    key: str
    e164: bool
    zone: str | None

    @property
    def anonymous(self) -> bool:
        return not self.key


ANONYMOUS = Number("", False, None)


MAX_CALLER_ID = 80
"""Characters of a caller ID worth reading: a real one (digits, a SIP URI) is far shorter."""
MAX_NAME = 80
"""Characters of a caller name kept: longer ones are cut before they are cached, logged or stored."""


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


def normalise(raw: str, region: str = "RU") -> Number:
    """Any caller ID to a Number. The cache behind it is keyed by the cleaned digits (at most 21
    characters), so distinct junk caller IDs, however long, cannot fill memory."""
    text = _digits(raw)
    return _read(text, region) if text else ANONYMOUS


def normalise_uncached(raw: str, region: str = "RU") -> Number:
    """The same, past the cache: for imports, where a million one-off numbers would only churn it."""
    text = _digits(raw)
    return _read.__wrapped__(text, region) if text else ANONYMOUS


def _digits(raw: str) -> str:
    """The number's digits (with `+`), or empty for anything that is not one."""
    text = cut(raw or "", MAX_CALLER_ID).strip()
    m = _URI.match(text)
    if m:
        text = m.group(1)
    text = _JUNK.sub("", text)
    if text.lower() in ANONYMOUS_WORDS:
        return ""
    if text.startswith("00"):
        text = "+" + text[2:]
    return text if _DIGITS.match(text) else ""


@lru_cache(maxsize=200_000)
def _read(text: str, region: str) -> Number:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed) and len(text.lstrip("+")) >= 7:
        key = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        zones = pn_timezone.time_zones_for_number(parsed)
        zone = zones[0] if len(zones) == 1 and zones[0] != pn_timezone.UNKNOWN_TIMEZONE else None
        return Number(key, True, zone)
    return Number(text.lstrip("+"), False, None)


_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "no such country code",
    phonenumbers.ValidationResult.INVALID_LENGTH: "of a length no number there has",
}


def why_invalid(raw: str, region: str) -> str | None:
    """Why `raw` is not a number a customer could have, or None when it is one.

    Stricter than `normalise` (which routes any caller it can read): a number kept in the directory
    or typed by an admin must be valid for its region — a digit short (`8 913 555-00-0`) parses into
    `+78913555000`, which no phone has."""
    text = _digits(raw)
    shown = repr(cut(raw or "", 40))
    if not text:
        return f"number {shown} is not a phone number (write +79031234567 or 8 903 123-45-67)"
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return f"number {shown} is not a phone number (write +79031234567 or 8 903 123-45-67)"
    if phonenumbers.is_valid_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    reason = _REASONS.get(phonenumbers.is_possible_number_with_reason(parsed),
                          f"not in {region}'s numbering plan (a digit missing or one too many?)")
    return f"number {shown} ({e164}) is not a valid number for {region}: {reason}; check its digits"


EXTENSION_DIGITS = 7
"""Internal extensions and short codes are at most this many digits; an outside number is longer."""


def is_extension(key: str) -> bool:
    """A normalised key that is an internal extension (`101`, `2001`), not an outside caller: digits
    only, and short. A caller ID that is not a number at all is an outsider whose number is unreadable."""
    return key.isdigit() and len(key) <= EXTENSION_DIGITS


SPAN_DIGITS = 15
"""Number ranges of any length compare as integers once right-padded to 15 digits (exact in a double)."""


def padded(key: str) -> int | None:
    """An E.164 number right-padded to SPAN_DIGITS digits: `+7495…*` prefixes become plain ranges."""
    if key.startswith("+") and key[1:].isdigit():
        return int(key[1:].ljust(SPAN_DIGITS, "0"))
    return None


def score(key: str) -> int | None:
    """An E.164 number as an integer, for range lookups (15 digits fit a double exactly)."""
    if key.startswith("+") and key[1:].isdigit():
        return int(key[1:])
    return None
