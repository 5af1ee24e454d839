"""What the queue members' states add to the daily counters (occupancy, pauses, ring-no-answer, logins). Pure.

A `Span` (router/asterisk/agentstates.py) is cut at every hour of the company day it crosses (so at midnight
too) and each piece adds its tenths of a second to the scopes of the standard figures
(router/reports/standardtally.py): the day (`day|all`), the member (`a|NAME`), the hour (`h|HH`) and each
queue the member was in (`q|NAME`). Fields, all integers:

- `sd|SCOPE|STATE` tenths of a second in `available`, `talk`, `wrapup` or `paused`;
- `sp|SCOPE|REASON` tenths paused for each reason (`-` when none was given); `spn|SCOPE|REASON` pauses begun;
- `rna|SCOPE` rings not answered (AgentRingNoAnswer); `sli|SCOPE`, `slo|SCOPE` logins to and logouts from a
  queue.

The same pieces and marks are kept as the day's agent log (`log_rows`): the rows of the agents' CSV, from
which every agent figure can be worked again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from router.asterisk.agentstates import Mark, Span
from router.reports.standardtally import DAY_SCOPE, scope_name

NO_REASON = "-"
Counters = dict[str, dict[str, int]]
"""day -> {field: increment}."""


def _scopes(agent: str, queues: tuple[str, ...], hour: int) -> list[str]:
    return [DAY_SCOPE, f"a|{scope_name(agent)}", f"h|{hour:02d}", *(f"q|{scope_name(q)}" for q in queues if q)]


def hour_pieces(start: float, end: float, zone: ZoneInfo) -> list[tuple[str, int, float]]:
    """(day, hour, seconds) of the company hours [start, end) covers."""
    out = []
    at = start
    while at < end:
        local = datetime.fromtimestamp(at, zone)
        next_hour = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).timestamp()
        stop = min(end, next_hour)
        out.append((local.date().isoformat(), local.hour, stop - at))
        at = stop
    return out


def span_counters(spans: list[Span], zone: ZoneInfo) -> Counters:
    out: Counters = defaultdict(dict)
    for s in spans:
        if s.state == "logged_out":
            continue
        for day, hour, seconds in hour_pieces(s.start, s.end, zone):
            c = out[day]
            tenths = round(seconds * 10)
            for scope in _scopes(s.agent, s.queues, hour):
                c[f"sd|{scope}|{s.state}"] = c.get(f"sd|{scope}|{s.state}", 0) + tenths
                if s.state == "paused":
                    field = f"sp|{scope}|{scope_name(s.reason) or NO_REASON}"
                    c[field] = c.get(field, 0) + tenths
    return dict(out)


MARK_FIELDS = {"pause": "spn", "ring_no_answer": "rna", "login": "sli", "logout": "slo"}


def mark_counters(marks: list[Mark], zone: ZoneInfo) -> Counters:
    out: Counters = defaultdict(dict)
    for m in marks:
        local = datetime.fromtimestamp(m.at, zone)
        c = out[local.date().isoformat()]
        metric = MARK_FIELDS[m.kind]
        for scope in _scopes(m.agent, m.queues, local.hour):
            field = f"{metric}|{scope}" + (f"|{scope_name(m.reason) or NO_REASON}" if m.kind == "pause" else "")
            c[field] = c.get(field, 0) + 1
    return dict(out)


def merged(*parts: Counters) -> Counters:
    out: Counters = defaultdict(dict)
    for part in parts:
        for day, c in part.items():
            for k, n in c.items():
                out[day][k] = out[day].get(k, 0) + n
    return dict(out)


class AgentLogRow(TypedDict):
    """One row of the day's agent log (the agents' CSV): a state's piece within one hour, or a mark."""

    day: str
    time: str
    at: float
    agent: str
    what: str
    """available, talk, wrapup, paused (a piece of time), or pause, ring_no_answer, login, logout (a mark)."""
    seconds: float
    queues: str
    """The queues the member was in, `;` between them."""
    reason: str


def log_rows(spans: list[Span], marks: list[Mark], zone: ZoneInfo) -> dict[str, list[AgentLogRow]]:
    """day -> the agent log's rows of these spans (one per company hour each covers) and marks."""
    out: dict[str, list[AgentLogRow]] = defaultdict(list)
    for s in spans:
        if s.state == "logged_out":
            continue
        at = s.start
        for day, _, seconds in hour_pieces(s.start, s.end, zone):
            out[day].append({"day": day, "time": datetime.fromtimestamp(at, zone).strftime("%H:%M:%S"),
                             "at": round(at, 3), "agent": s.agent, "what": s.state,
                             "seconds": round(seconds * 10) / 10, "queues": ";".join(s.queues), "reason": s.reason})
            at += seconds
    for m in marks:
        local = datetime.fromtimestamp(m.at, zone)
        out[local.date().isoformat()].append({"day": local.date().isoformat(), "time": local.strftime("%H:%M:%S"),
                                              "at": round(m.at, 3), "agent": m.agent, "what": m.kind,
                                              "seconds": 0.0, "queues": ";".join(m.queues), "reason": m.reason})
    return dict(out)
