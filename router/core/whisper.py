"""The whisper: a few characters before the caller's name on the ringing phone (`[A] Olga`), from the decision.

The rule file's `people.whisper` lists parts, each a `text` shown when its `when:` holds (always
without one); the parts that hold are joined and put before the name. Computed from what the
decision already has (the caller's profile and the clock reading it was made with): no store
read, a few predicate checks. Pure.

What the phone gets is bounded: at most `whisper_max` characters, cut by characters (a Cyrillic
name is never cut inside a letter) and at most MAX_BYTES of UTF-8, which every SIP stack carries
in a From display name. The text still passes `mset`'s escaping like every value of the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from router.core.calendar import CompanyDay
from router.core.conditions import Check, Moment, compile_when, holds
from router.core.identify import Caller
from router.core.rules import When, WhisperPart

MAX_BYTES = 160
UNREAD_DAY = CompanyDay(date(1970, 1, 1), "", True)
"""The day in a moment no whisper part reads (`_timed` is false): never looked at."""
_PLACEHOLDER = re.compile(r"\{(abc|kind|risk|manager|company)\}")


def _values(c: Caller) -> dict[str, str]:
    return {"abc": c.abc, "kind": c.kind, "risk": "" if c.risk == "none" else c.risk, "manager": c.manager,
            "company": c.company_name or c.company}


def bounded(text: str, max_chars: int) -> str:
    """At most `max_chars` characters and MAX_BYTES bytes of UTF-8, cut between characters."""
    text = " ".join(text.split())[:max_chars]
    while len(text.encode()) > MAX_BYTES:
        text = text[:-1]
    return text


def _timed(w: When | None) -> bool:
    """Whether a condition reads the clock or the calendar (`hours`, `local_hours`, `days`, `holiday`,
    `workday`)."""
    if w is None:
        return False
    return (w.hours is not None or w.local_hours is not None or w.days is not None
            or w.holiday is not None or w.workday is not None
            or any(_timed(x) for x in (*(w.any or ()), *(w.all or ()), w.not_)))


@dataclass(frozen=True, slots=True)
class Whisper:
    parts: tuple[tuple[str, tuple[Check, ...]], ...]
    max_chars: int
    timed: bool = False
    """A part reads the clock: the decision's moment must be worked out (a few microseconds) to check it."""

    @classmethod
    def compile(cls, parts: list[WhisperPart], max_chars: int) -> Whisper:
        return cls(tuple((p.text, compile_when(p.when)) for p in parts), max_chars, any(_timed(p.when) for p in parts))

    def moment(self, at: float) -> Moment | None:
        """The clock reading to check the parts with when none reads the clock; None: work it out."""
        return None if self.timed else Moment(at, 0, "", 0, UNREAD_DAY)

    def prefix(self, c: Caller, m: Moment) -> str:
        """The parts that hold, joined, placeholders filled ("" when none holds)."""
        shown = [text for text, checks in self.parts if holds(checks, c, m)]
        if not shown:
            return ""
        joined = "".join(shown)
        if "{" in joined:
            values = _values(c)
            joined = _PLACEHOLDER.sub(lambda x: values[x.group(1)], joined)
        return joined.strip()

    def shown(self, c: Caller, m: Moment, name: str) -> str:
        """What the phone shows: the prefix, then the name, bounded; "" when no part holds."""
        prefix = self.prefix(c, m)
        if not prefix:
            return ""
        return bounded(f"{prefix} {name}" if name else prefix, self.max_chars)
