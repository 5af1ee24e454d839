"""The standard figures of today so far, per queue: what the wallboard shows. Pure; the clock is a parameter.

The day's counters hold what has ended (calls, states that changed); a member's state still open now (on a
call, available, paused since …) is added up to `now`, cut at the start of the company day, so that
occupancy moves while nothing happens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from router.asterisk.agentstates import AgentNow, Span
from router.core.rules import ReportSettings
from router.reports.agenttally import span_counters
from router.reports.figures import StandardFigures, StandardRow, standard


def open_spans(agents: Mapping[str, AgentNow], now: float) -> list[Span]:
    """Each member's state now, as a span from its start to `now`."""
    return [Span(agent, a["state"], float(a["since"]), now, tuple(a["queues"]), a.get("reason", ""))
            for agent, a in agents.items() if a["state"] != "logged_out" and now > float(a["since"])]


def today_so_far(counters: Mapping[str, str | int], agents: Mapping[str, AgentNow], settings: ReportSettings,
                 zone: ZoneInfo, now: float) -> StandardFigures:
    """`counters` today's (Store.report_counters), `agents` Store.agents_now(): today's figures at `now`."""
    today = datetime.fromtimestamp(now, zone).date().isoformat()
    summed: Counter[str] = Counter({k: int(v) for k, v in counters.items()})
    summed.update(span_counters(open_spans(agents, now), zone).get(today, {}))
    return standard(summed.items(), settings)


def queues_so_far(counters: Mapping[str, str | int], agents: Mapping[str, AgentNow], settings: ReportSettings,
                  zone: ZoneInfo, now: float) -> dict[str, StandardRow]:
    """Per queue name, today's standard figures at `now` (the wallboard's tiles)."""
    return {r["name"]: r for r in today_so_far(counters, agents, settings, zone, now)["queues"]}
