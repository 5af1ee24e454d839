"""An hour window as the rule file writes it (`09:00-18:00`, `22:00-07:00` past midnight). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator

_HHMM = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


def _minutes(text: str, whole: str) -> int:
    m = _HHMM.match(text.strip())
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise ValueError(f"bad hour window {whole!r}: write HH:MM-HH:MM, like 09:00-18:00 or 22:00-07:00")
    return int(m.group(1)) * 60 + int(m.group(2))


@dataclass(frozen=True, slots=True)
class HourWindow:
    """Minutes since midnight; `start > end` wraps past midnight."""

    start: int
    end: int

    def contains(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def parse_hour_window(value: Any) -> HourWindow:
    if isinstance(value, HourWindow):
        return value
    if not isinstance(value, str) or value.count("-") != 1:
        raise ValueError(f"bad hour window {value!r}: write HH:MM-HH:MM, like 09:00-18:00 or 22:00-07:00")
    a, b = value.split("-")
    start, end = _minutes(a, value), _minutes(b, value)
    if start == end:
        raise ValueError(f"bad hour window {value!r}: start and end are equal, the window would be empty")
    return HourWindow(start, end)


Hours = Annotated[HourWindow, BeforeValidator(parse_hour_window)]
