"""The standard call-centre figures, per day, queue, agent and hour, from the daily counters. Pure.

Definitions (docs/reports.md works an example of each):

- offered = calls a person was to answer, short abandons left out; answered; abandoned = the caller hung up
  before an answer, at or after the short-abandon threshold; short_abandoned = those gone sooner, apart.
- service_level = answered within T ÷ offered; service_level2 = (answered within T + abandoned within T)
  ÷ (answered + abandoned, short ones included): Asterisk's SL2 (app_queue.c, `ServiceLevelPerf2`). Waits in
  whole seconds cut down, as Asterisk's `now - qe->start <= servicelevel`.
- asa_seconds = time waited by the answered calls ÷ answered; asa_p90_seconds its nearest-rank 90th percentile.
- abandon_rate = abandoned ÷ offered.
- aht_seconds = (talk + hold + wrap-up) of the answered calls ÷ answered.
- fcr_rate = answered calls the number did not call again within N ÷ answered; recall_rate = calls (answered
  or not) followed by a further call within N ÷ offered; recall_median_seconds the median time to that call.
- occupancy = talk ÷ (talk + available) of the agents' states (router/reports/agenttally.py).

Each is None when nothing is there to divide by. Rates are fractions (0.75), rounded to 4 places.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal, TypedDict

from router.core.rules import ReportSettings
from router.reports.standardtally import DAY_SCOPE, SEP

Scope = Literal["day", "queue", "agent", "hour"]
SCOPE_KINDS: dict[str, Scope] = {"day": "day", "q": "queue", "a": "agent", "h": "hour"}
PAUSE_REASON_NONE = "-"
"""What a pause with no reason is counted under."""


class Pause(TypedDict):
    reason: str
    pauses: int
    seconds: float


class StandardRow(TypedDict):
    """The standard figures of one day, queue, agent or hour: what the report, the API, the CSV check and the
    wallboard read under these names."""

    scope: Scope
    name: str
    offered: int
    answered: int
    service_level: float | None
    service_level2: float | None
    service_level_seconds: int
    asa_seconds: float | None
    asa_p90_seconds: int | None
    abandoned: int
    short_abandoned: int
    short_abandon_seconds: int
    abandon_rate: float | None
    aht_seconds: float | None
    fcr_rate: float | None
    recall_rate: float | None
    recall_median_seconds: int | None
    first_contact_seconds: int
    occupancy: float | None
    talk_seconds: float
    available_seconds: float
    wrapup_seconds: float
    paused_seconds: float
    pauses: list[Pause]
    ring_no_answer: int
    logins: int
    logouts: int


class StandardFigures(TypedDict):
    day: StandardRow
    queues: list[StandardRow]
    agents: list[StandardRow]
    hours: list[StandardRow]


class _Scope:
    """The counters of one scope, gathered from the flat fields."""

    __slots__ = ("dist", "n")

    def __init__(self) -> None:
        self.n: Counter[str] = Counter()
        self.dist: dict[str, Counter[int]] = {}


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def nearest_rank(dist: Mapping[int, int], q: float) -> int | None:
    """The smallest value with at least q of the counts at or below it."""
    total = sum(dist.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(dist):
        seen += dist[value]
        if seen >= rank:
            return value
    return None


def _within(dist: Mapping[int, int], limit: int) -> int:
    return sum(n for v, n in dist.items() if v <= limit)


DISTRIBUTIONS = ("sw", "sb", "rc", "rca")
"""Fields `METRIC|KIND|NAME|VALUE`: histograms."""
NAMED = ("sd", "sp", "spn")
"""Fields `METRIC|KIND|NAME|WHAT`: a state's or pause reason's sum."""
PLAIN = ("so", "sa", "sab", "ssa", "sws", "sht", "rna", "sli", "slo")


def gather(fields: Iterable[tuple[str, int]]) -> dict[tuple[str, str], _Scope]:
    """{(kind, name): its counters} from the day counters' fields (others are left alone)."""
    scopes: dict[tuple[str, str], _Scope] = {}
    for k, n in fields:
        parts = k.split(SEP)
        metric = parts[0]
        if len(parts) == 3 and metric in PLAIN:
            s = scopes.setdefault((parts[1], parts[2]), _Scope())
            s.n[metric] += n
        elif len(parts) == 4 and metric in DISTRIBUTIONS:
            s = scopes.setdefault((parts[1], parts[2]), _Scope())
            s.dist.setdefault(metric, Counter())[int(parts[3])] += n
        elif len(parts) == 4 and metric in NAMED:
            s = scopes.setdefault((parts[1], parts[2]), _Scope())
            s.n[f"{metric}{SEP}{parts[3]}"] += n
    return scopes


def row(kind: str, name: str, s: _Scope, settings: ReportSettings, threshold: int) -> StandardRow:
    n, dist = s.n, s.dist
    waited, gave_up = dist.get("sw", Counter()), dist.get("sb", Counter())
    recalls, answered_recalls = dist.get("rc", Counter()), dist.get("rca", Counter())
    window = settings.first_contact_within
    short = n["ssa"]
    offered, answered, abandoned = n["so"] - short, n["sa"], n["sab"] - short
    recalled = {v: k for v, k in recalls.items() if v <= window}
    talk, available = n["sd|talk"] / 10, n["sd|available"] / 10
    reasons = {what.split(SEP, 1)[1] for what in n if what.startswith((f"sp{SEP}", f"spn{SEP}"))}
    pauses: list[Pause] = sorted(({"reason": r, "pauses": n[f"spn{SEP}{r}"], "seconds": round(n[f"sp{SEP}{r}"] / 10, 1)}
                                  for r in reasons), key=lambda p: (-p["seconds"], p["reason"]))
    return {
        "scope": SCOPE_KINDS[kind], "name": name, "offered": offered, "answered": answered,
        "service_level": ratio(_within(waited, threshold), offered),
        "service_level2": ratio(_within(waited, threshold) + _within(gave_up, threshold), answered + n["sab"]),
        "service_level_seconds": threshold,
        "asa_seconds": round(n["sws"] / 10 / answered, 1) if answered else None,
        "asa_p90_seconds": nearest_rank(waited, 0.9),
        "abandoned": abandoned, "short_abandoned": short, "short_abandon_seconds": settings.short_abandon,
        "abandon_rate": ratio(abandoned, offered),
        "aht_seconds": round(n["sht"] / 10 / answered, 1) if answered else None,
        "fcr_rate": ratio(answered - _within(answered_recalls, window), answered),
        "recall_rate": ratio(sum(recalled.values()), offered),
        "recall_median_seconds": nearest_rank(recalled, 0.5),
        "first_contact_seconds": window,
        "occupancy": ratio(talk, talk + available),
        "talk_seconds": round(talk, 1), "available_seconds": round(available, 1),
        "wrapup_seconds": round(n["sd|wrapup"] / 10, 1), "paused_seconds": round(n["sd|paused"] / 10, 1),
        "pauses": pauses, "ring_no_answer": n["rna"], "logins": n["sli"], "logouts": n["slo"],
    }


def standard(counters: Iterable[tuple[str, int]], settings: ReportSettings) -> StandardFigures:
    """The figures of the summed counters of one or more days: the whole, per queue (each with its own T),
    per agent and per hour (the report's T)."""
    scopes = gather(counters)
    day_kind, day_name = DAY_SCOPE.split(SEP)
    whole = row(day_kind, day_name, scopes.get((day_kind, day_name), _Scope()), settings, settings.service_level)
    by_kind: dict[str, list[StandardRow]] = {"q": [], "a": [], "h": []}
    for (kind, name), s in sorted(scopes.items()):
        if kind in by_kind:
            threshold = settings.service_level_of(name) if kind == "q" else settings.service_level
            by_kind[kind].append(row(kind, name, s, settings, threshold))
    return {"day": whole, "queues": by_kind["q"], "agents": by_kind["a"], "hours": by_kind["h"]}
