"""Durations as admins write them in rule files (`90s`, `30m`, `1h`, `7d`, `2w`) and as people read them. Pure.

A bare number is refused: `30` could be seconds or minutes, and a wrong guess would silently
change a deadline or a window by a factor of sixty.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: Any) -> int:
    """`90s`, `30m`, `1h`, `7d`, `2w` -> seconds. Bare numbers are refused: the unit is never guessed."""
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and int(m.group(1)) > 0:
            return int(m.group(1)) * _UNIT[m.group(2)]
    raise ValueError(f"bad duration {value!r}: write a positive number with a unit, like 90s, 30m, 1h, 7d")


def human_duration(seconds: float) -> str:
    """`3d 2h`, `1h 5m`, `31m`, `45s`: how long, as a person says it."""
    s = int(seconds)
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{rest // 60}m" if rest >= 60 and not d else ""]
    return " ".join(p for p in parts if p) or f"{s}s"


Duration = Annotated[int, BeforeValidator(parse_duration)]
"""A rule-file field holding a duration, stored as whole seconds."""
