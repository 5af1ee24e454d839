"""A stream of calls and missed calls against a router whose store fails over, and what to check after."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson

from router.asterisk.callsim import CallResult, call
from router.server import Running, start
from router.service import Router
from router.state.factory import open_store
from router.state.store import Store
from tests.asterisk import AMI_RECORDINGS
from tests.asterisk.ami_server import AMIServer, recorded_events
from tests.helpers import RULES_TEXT, ami_target, compiled

MISSED = (AMI_RECORDINGS / "ami_b_inbound_missed_caller_hangup.txt").read_bytes()
RULES = compiled(RULES_TEXT + "\nfollowup: {short_abandons: true}\n")
"""The recording replays at one instant: its caller rang 0 s, a short abandon that opens a follow-up only so."""


def missed_call(n: int, caller: int | None = None) -> tuple[str, bytes]:
    """The recorded missed call, as the n-th call of its own: new channel ids, a number of its own
    (or the number of call `caller`)."""
    number = f"+7916{n if caller is None else caller:07d}"
    data = MISSED.replace(b"1795337780.", f"17{n:07d}80.".encode()).replace(
        b"1795337781.", f"17{n:07d}81.".encode()).replace(b"+79161112233", number.encode())
    return number, recorded_events(data)


@dataclass
class Stream:
    """Calls placed one after another; the time each was placed and what the router answered."""

    port: int
    calls: list[tuple[float, CallResult]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            placed = time.monotonic()
            res = await call(self.port, f"+7903{i:07d}", uid=i + 1)
            self.calls.append((placed, res))
            i += 1
            await asyncio.sleep(0.01)  # a steady stream, not a flood: the cores are shared

    def fallbacks(self) -> list[float]:
        """When each call answered by the fallback chain ended."""
        return [t + r.seconds for t, r in self.calls if r.variables.get("ROUTE_RULE") == "fallback"]

    def answered_without_fallback_since(self, t: float) -> int:
        return sum(1 for placed, r in self.calls if placed > t and r.variables.get("ROUTE_RULE") != "fallback")


async def routed(url: str, prefix: str, ami: AMIServer) -> Running:
    store = open_store(url, prefix)
    # a budget long enough that only the failover, not a busy shared machine, makes a call fall back
    router = Router(RULES, store, budget=1.0)
    running = await start(router, ("127.0.0.1", 0), ("127.0.0.1", 0), ami=ami_target(ami))
    await asyncio.wait_for(running.ami.synced.wait(), 10)
    return running


async def fail_over_during_calls(running: Running, ami: AMIServer, kill, recovered=None) -> dict:
    """Calls and missed calls before, during and after `kill()`; returns what was measured."""
    stream = Stream(running.agi.port)
    calls = asyncio.create_task(stream.run())
    numbers = []
    for n in range(3):
        number, events = missed_call(n)
        numbers.append(number)
        await ami.push(events)
    await _until(lambda: len(stream.calls) >= 30, 20)
    killed = time.monotonic()
    await asyncio.to_thread(kill)
    for n in range(3, 6):  # missed calls that end while the store has no master
        number, events = missed_call(n)
        numbers.append(number)
        await ami.push(events)
    # recovered: a run of calls routed by the rules again after the kill
    await _until(lambda: stream.answered_without_fallback_since(max([killed, *stream.fallbacks()])) >= 30, 30)
    stream.stop.set()
    await calls
    if recovered is not None:
        await asyncio.to_thread(recovered)
    await _until(lambda: not running.ami.pending and not running.router.log.pending, 30)
    await running.router.followups.drain()
    falls = stream.fallbacks()
    return {"calls": stream.calls, "numbers": numbers, "killed": killed,
            "window": (max(falls) - killed) if falls else 0.0, "fallbacks": falls}


async def check_nothing_lost_or_doubled(store: Store, measured: dict) -> None:
    calls = measured["calls"]
    assert all(r.variables.get("ROUTE_COUNT", "0") >= "1" for _, r in calls), "a call was not answered"
    assert all(t >= measured["killed"] for t in measured["fallbacks"]), "fallback before the master died"
    assert measured["fallbacks"], "the kill was not felt: nothing measured"
    ids = [r.variables["ROUTE_DECISION"] for _, r in calls]
    logged = [e["id"] for e in await store.recent_decisions(10_000)]
    lost = [i for i, d in enumerate(ids) if d not in set(logged)]
    assert sorted(logged) == sorted(ids), f"{len(lost)} decisions lost (calls {lost[:5]}), " \
                                          f"{len(logged) - len(set(logged))} doubled"
    outcomes = [orjson.loads(f["o"])["number"] for _, f in await store.r.xrange(store.k.outcomes)]
    assert sorted(outcomes) == sorted(measured["numbers"]), "an outcome was lost or doubled"
    tasks = await store.tasks("open")
    assert sorted(t["number"] for t in tasks) == sorted(measured["numbers"]), "a follow-up was lost or doubled"
    assert all(t["count"] == "1" for t in tasks)


async def _until(predicate, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)
