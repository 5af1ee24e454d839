"""Reading the day logs back: a period replayed on other rules, coverage, a rollout's groups side by side.

Reads only the day logs (`Keys.decisions_day`), the report's raw calls of the calls that moved
(their outcome) and, for coverage, the rule counters — never a key a call's round trip reads.
Each chunk of entries is decided again in a thread that gives the event loop the interpreter
back every half millisecond (`rulesource.loop_first`): a router replaying a month still
answers its calls on time. Nothing is written.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from router.core.coverage import coverage
from router.core.decide import CompiledRules
from router.core.replay import Replay
from router.core.rollout import side_by_side
from router.reports.reader import parse_range
from router.reports.report import days_between
from router.rulesource import loop_first
from router.state.store import Store

MAX_DAYS = 31
"""Days one replay may cover (a month of a busy call centre is a few hundred thousand calls)."""


def period(day: str | None, first: str | None, last: str | None, rules: CompiledRules, now: float) -> list[str]:
    """The company days asked for: `day`, or `first`..`last`, else yesterday; ValueError says what is wrong."""
    if day or first or last:
        days = parse_range(day, first, last, rules, now)
    else:
        days = [(datetime.fromtimestamp(now, rules.company_zone).date() - timedelta(days=1)).isoformat()]
    if len(days) > MAX_DAYS:
        raise ValueError(f"{len(days)} days: at most {MAX_DAYS} at a time")
    return days


def last_days(rules: CompiledRules, n: int, now: float) -> list[str]:
    """The last `n` company days, today included."""
    today = datetime.fromtimestamp(now, rules.company_zone).date()
    return days_between(today - timedelta(days=n - 1), today)


def _decide_chunk(replay: Replay, entries: list[dict], day: str) -> None:
    with loop_first():
        for e in entries:
            replay.add(e, day)


async def replay_days(store: Store, rules: CompiledRules, days: list[str], shadows: bool = False,
                      in_thread: bool = True) -> Replay:
    """The calls of `days` (company days) decided again by `rules`; `in_thread` keeps the CPU work off the
    event loop (a router's API); the CLI, with no calls to answer, runs it in place."""
    if len(days) > MAX_DAYS:
        raise ValueError(f"{len(days)} days: replay at most {MAX_DAYS} days at a time")
    replay = Replay(rules, shadows=shadows)
    for day in days:
        async for chunk in store.decisions_of(day):
            if in_thread:
                await asyncio.to_thread(_decide_chunk, replay, chunk, day)
            else:
                for e in chunk:
                    replay.add(e, day)
    for day, ids in replay.changed_ids().items():
        replay.outcomes(await store.call_records(day, ids))
    return replay


async def coverage_of(store: Store, rules: CompiledRules, days: list[str], in_thread: bool = True) -> dict:
    """Coverage of `rules` over `days`: the counted calls per rule, static shadowing, and the logged calls of
    those days decided again to see which rules held but never decided."""
    counted = await store.rule_hits(days)
    replay = await replay_days(store, rules, days, shadows=True, in_thread=in_thread)
    return {"days": days, **coverage(rules.rs, counted, replay)}


async def rollout_groups(store: Store, since: float, until: float, zone: ZoneInfo) -> dict:
    """Both groups of a rollout side by side (router/core/rollout.py `side_by_side`), from the decisions logged
    between `since` and `until` (at most the last MAX_DAYS days of them) and the outcomes of their calls."""
    first, last = datetime.fromtimestamp(since, zone).date(), datetime.fromtimestamp(until, zone).date()
    days = days_between(max(first, last - timedelta(days=MAX_DAYS - 1)), last)
    marked: list[dict] = []
    records: dict[str, dict] = {}
    for day in days:
        ids = []
        async for chunk in store.decisions_of(day):
            for e in chunk:
                if "rollout" in e and since <= e["at"] <= until:
                    marked.append({"id": e["id"], "rollout": e["rollout"], "escalated": e.get("escalated", False)})
                    ids.append(e["id"])
        records |= await store.call_records(day, ids)
    return {"days": days, **side_by_side(marked, records)}
