"""Replaying a period from the store: the day logs read back a chunk at a time, decided again off the loop.

Reads only the day logs (`Keys.decisions_day`), the report's raw calls of the calls that moved
(their outcome) and, for coverage, the rule counters — never a key a call's round trip reads.
Each chunk of entries is decided again in a thread that gives the event loop the interpreter
back every half millisecond (`rulesource.loop_first`): a router replaying a month still
answers its calls on time. Nothing is written.
"""

from __future__ import annotations

import asyncio

from router.core.coverage import coverage
from router.core.decide import CompiledRules
from router.core.replay import Replay
from router.rulesource import loop_first
from router.state.store import Store

MAX_DAYS = 31
"""Days one replay may cover (a month of a busy call centre is a few hundred thousand calls)."""


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
