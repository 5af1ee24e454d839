"""Times as a person types them for `router simulate --at`: `23:30`, `tomorrow 09:00`, ISO, a zone.

Pure: the current time is passed in, so the same text always means the same instant in tests.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_WORDS = {"today": 0, "tomorrow": 1, "yesterday": -1}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
EXAMPLES = '23:30, "tomorrow 09:00", "mon 10:00", 2026-11-23T22:30, 2026-11-23T22:30+03:00, "22:30 Asia/Vladivostok"'


class WhenError(ValueError):
    """Text that does not read as a time; the message says what would."""


def _zone(word: str) -> ZoneInfo | None:
    if "/" not in word and word.upper() not in ("UTC", "GMT"):
        return None
    try:
        return ZoneInfo("UTC" if word.upper() in ("UTC", "GMT") else word)
    except (ZoneInfoNotFoundError, ValueError):
        raise WhenError(f"unknown time zone {word!r} (write an IANA name such as Asia/Vladivostok)") from None


def _clock(word: str) -> time:
    m = _CLOCK.match(word)
    if not m:
        raise WhenError(f"cannot read {word!r} as a time of day (write 23:30)")
    h, mi, s = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise WhenError(f"{word!r} is not a time of day (00:00 to 23:59)")
    return time(h, mi, s)


def _day(word: str, today: date) -> date | None:
    w = word.lower()
    if w in DAY_WORDS:
        return today + timedelta(days=DAY_WORDS[w])
    if w in WEEKDAYS or w in FULL_WEEKDAYS:
        ahead = (WEEKDAYS.index(w[:3]) - today.weekday()) % 7
        return today + timedelta(days=ahead)
    return None


def parse_when(text: str | None, zone: ZoneInfo, now: float) -> datetime:
    """`text` as an aware datetime; no zone or offset in it means `zone` (the company's)."""
    if text is None or not text.strip() or text.strip().lower() == "now":
        return datetime.fromtimestamp(now, zone)
    words = text.split()
    if len(words) > 1 and (z := _zone(words[-1])) is not None:
        zone, words = z, words[:-1]
    today = datetime.fromtimestamp(now, zone).date()
    if len(words) == 1 and (_CLOCK.match(words[0]) or _day(words[0], today)):
        day = _day(words[0], today)
        return datetime.combine(day or today, time(0) if day else _clock(words[0]), zone)
    if len(words) == 2 and (day := _day(words[0], today)) is not None:
        return datetime.combine(day, _clock(words[1]), zone)
    try:
        t = datetime.fromisoformat(" ".join(words))
    except ValueError:
        raise WhenError(f"cannot read {text!r} as a time; write one of {EXAMPLES}") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=zone)
