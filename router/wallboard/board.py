"""What the wallboard shows, put together from the live queues and the follow-up counts. Pure.

"So far today" comes from `today_figures` (through `day_figures`), the one place that says what the
service level and the abandon rate are, counted from the queue's own callers of the company day with the report's
thresholds (`report.service_level`, a queue's own in `report.queues`, `report.short_abandon`):

- answered: a member took the caller (`AgentConnect`); within the service level when the caller
  waited at most T;
- short abandoned: the caller hung up while waiting, sooner than the short abandon: counted apart,
  not offered;
- abandoned: the caller hung up while waiting, later than that;
- timed out: the queue let the caller go on unanswered (its timeout, nobody left in it);
- offered = answered + abandoned + timed out; service level = answered within T / offered,
  abandon rate = abandoned / offered; no share at all (None) before the first caller offered.
These are the report's names and formulas (docs/reports.md): the wall shows what the report will.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypedDict

from router.asterisk.queuelive import MEMBER_STATES, DayCounts, QueueView
from router.core.rules import ReportSettings
from router.core.wallboardrules import Level, WallboardSettings, level
from router.web.worklist import OwnerCounts

MAX_OWNERS = 16
"""Owners the follow-up stack shows (most overdue first): what fits the screen at a size read across a room;
the rest are summed in `more`."""


class DayFigures(TypedDict):
    offered: int
    answered: int
    answered_in_time: int
    service_level: float | None
    service_level_seconds: int
    abandoned: int
    short_abandoned: int
    abandon_rate: float | None
    timed_out: int
    kept: int
    """Pressed 1 and left keeping their place for a callback: offered, neither answered nor abandoned."""


class QueueBoard(QueueView):
    today: DayFigures
    levels: dict[str, Level]


class OwnerRow(TypedDict):
    owner: str
    open: int
    overdue: int
    level: Level


class Stack(TypedDict):
    owners: list[OwnerRow]
    more: OwnerCounts
    """The owners past MAX_OWNERS, summed."""


TodayFigures = Callable[[str], DayFigures]
"""A queue's name -> its figures so far today."""


class Board(TypedDict):
    at: float
    queues: list[QueueBoard]
    followups: Stack


def day_figures(counts: DayCounts, service_level: int, short_abandon: int) -> DayFigures:
    """A queue's service level and abandon rate so far today, from its callers counted live (see above): T is
    `service_level` seconds, a short abandon shorter than `short_abandon`."""
    answered = sum(counts.answered.values())
    in_time = sum(n for wait, n in counts.answered.items() if wait <= service_level)
    short = sum(n for wait, n in counts.abandoned.items() if wait < short_abandon)
    abandoned = sum(counts.abandoned.values()) - short
    offered = answered + abandoned + counts.timed_out + counts.kept
    return {"offered": offered, "answered": answered, "answered_in_time": in_time,
            "service_level": in_time / offered if offered else None, "service_level_seconds": service_level,
            "abandoned": abandoned, "short_abandoned": short, "abandon_rate": abandoned / offered if offered else None,
            "timed_out": counts.timed_out, "kept": counts.kept}


def stack(counts: dict[str, OwnerCounts], settings: WallboardSettings) -> Stack:
    """Owners with open follow-ups, the most overdue first (then the most open, then by name)."""
    rows = sorted(counts.items(), key=lambda kv: (-kv[1]["overdue"], -kv[1]["open"], kv[0]))
    owners: list[OwnerRow] = [{"owner": owner or "(nobody)", "open": c["open"], "overdue": c["overdue"],
                               "level": level("overdue", c["overdue"], settings.colours.overdue)}
                              for owner, c in rows[:MAX_OWNERS]]
    rest = rows[MAX_OWNERS:]
    return {"owners": owners, "more": {"open": sum(c["open"] for _, c in rest),
                                       "overdue": sum(c["overdue"] for _, c in rest)}}


def shown(queues: list[QueueView], names: list[str]) -> list[QueueView]:
    """The queues the rule file names, in its order (one Asterisk has not reported yet: empty); none named: all."""
    if not names:
        return queues
    known = {q["queue"]: q for q in queues}
    return [known.get(name) or {"queue": name, "waiting": 0, "longest_wait": 0,
                                "agents": dict.fromkeys(MEMBER_STATES, 0), "members": []} for name in names]


def today_figures(days: Mapping[str, DayCounts], report: ReportSettings) -> TodayFigures:
    """Each queue's figures so far today, from the live counts (`QueueLive.day_counts`) with the report's
    thresholds: the one source of the wall's service level and abandon rate. A queue missing from it shows
    none yet."""
    return lambda queue: day_figures(days.get(queue) or DayCounts(), report.service_level_of(queue),
                                     report.short_abandon)


def board(queues: list[QueueView], today_of: TodayFigures, owners: dict[str, OwnerCounts],
          settings: WallboardSettings, now: float) -> Board:
    colours = settings.colours
    out: list[QueueBoard] = []
    for q in shown(queues, settings.queues):
        today = today_of(q["queue"])
        levels: dict[str, Level] = {
            "waiting": level("waiting", q["waiting"], colours.waiting),
            "longest_wait": level("longest_wait", q["longest_wait"], colours.longest_wait),
            "available": level("available", q["agents"]["available"], colours.available),
            "service_level": level("service_level", today["service_level"], colours.service_level),
            "abandon_rate": level("abandon_rate", today["abandon_rate"], colours.abandon_rate),
        }
        out.append({**q, "today": today, "levels": levels})
    return {"at": now, "queues": out, "followups": stack(owners, settings)}
