"""Replay and coverage of a logged day, what the replay record costs the log, and what a rollout costs a call.

    python bench/replay.py               # a day of 10,000 calls
    python bench/replay.py --calls 50000

Starts its own redis-server on a free port and loads 100,000 customers (bench/run.py's mix).
The day is routed by the real `Router.route` in-process on the shipped rules, with 40 agents'
devices going busy and free between calls and the strategy switched at noon, so each log
entry is exactly what production writes. Then:

- the log: each entry's bytes with and without its replay record (`seen`), the day stream's
  bytes per call in Redis (MEMORY USAGE), and the decision-log writer's time per entry
  (`Store.append_decisions` in batches of 100, as the writer sends them) with and without the
  record (without: what it wrote before the record existed);
- replay: the day decided again on the same rules (nothing changes) and on changed rules, as
  `router replay` does it (in place) and as `GET /api/replay` does it (in a thread that hands
  the loop back every 0.5 ms); coverage of the day (every rule tried on every call);
- the call: `Router.route` p50/p99 with no rollout and with a 10 % rollout staged, alternating.

Results: results/replay.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import DEFAULT_RULES, load_customers, machine, start_redis  # noqa: E402
from router.core.decide import CompiledRules  # noqa: E402
from router.core.rollout import Rollout  # noqa: E402
from router.core.rulefile import DEFAULT_LIMITS, load_rule_texts, read_rule_files  # noqa: E402
from router.replaying import coverage_of, replay_days  # noqa: E402
from router.rulesource import compile_rules  # noqa: E402
from router.service import Router  # noqa: E402
from router.state.decisionlog import entry  # noqa: E402
from router.state.factory import open_store  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DAY = "2026-11-23"
AGENTS = ("PJSIP/101", "PJSIP/102", "Custom:sidorov", "PJSIP/900",
          *(f"Local/agent{i}@agents" for i in range(1, 37)))
"""40 devices whose state AMI reports: the managers', the duty engineer's, the queue members'."""


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def changed_rules() -> CompiledRules:
    """The shipped rules with one change an admin would make: C customers to the operators, not self-service."""
    texts = read_rule_files(DEFAULT_RULES)
    name, text = texts[0]
    text = text.replace("route: [self_service]", "route: [operators]")
    return CompiledRules(load_rule_texts(name, ((name, text),), DEFAULT_LIMITS), name, ((name, text),))


async def route_day(router: Router, pop, calls: int, clock: Clock) -> list[dict]:
    """`calls` calls from 08:00 to 20:00, each as the router answers it; their log entries."""
    zone = router.rules.company_zone
    start = datetime.fromisoformat(DAY).replace(hour=8, tzinfo=zone).timestamp()
    rnd = random.Random(7)
    busy: set[str] = set()
    entries = []
    for i in range(calls):
        clock.t = start + i * (12 * 3600 / calls)
        if i % 5 == 0:  # agents pick up and hang up: about 15 of 40 busy at a time
            device = rnd.choice(AGENTS)
            if device in busy or len(busy) > 18:
                busy.discard(device)
                await router.store.set_device_state(device, "NOT_INUSE")
            else:
                busy.add(device)
                await router.store.set_device_state(device, "INUSE")
        if i == calls // 3:
            await router.set_strategy("retention", "bench")
        env = {"agi_callerid": pop.pick(), "agi_uniqueid": f"1795400000.{i}", "agi_channel": f"PJSIP/trunk-{i:08x}",
               "agi_dnid": rnd.choice(("88006008208", "88006008200", "84951234567")), "agi_extension": "s"}
        d = await router.route(env)
        entries.append(entry(d, env))
    return entries


async def write_time(url: str, prefix: str, calendar, entries: list[dict], rounds: int = 3) -> float:
    """Microseconds per entry for the writer's batches of 100: the best of `rounds`, each into a fresh prefix
    (`prefix`0, 1, …) so that every round writes the same."""
    best = float("inf")
    for n in range(rounds):
        store = open_store(url, f"{prefix}{n}", timeout=30)
        store.calendar = calendar
        t0 = time.perf_counter()
        for k in range(0, len(entries), 100):
            await store.append_decisions(entries[k:k + 100])
        best = min(best, (time.perf_counter() - t0) / len(entries) * 1e6)
        await store.close()
    return best


async def route_latency(router: Router, pop, clock: Clock, calls: int) -> dict:
    """Router.route p50/p99 (ms) with no rollout and with 10 % staged, in alternating blocks of 200 calls."""
    staged = Rollout(router.rules, changed_rules(), 10, clock.t)
    times: dict[str, list[float]] = {"no rollout": [], "10 % rollout staged": []}
    for block in range(calls // 200):
        name = "no rollout" if block % 2 == 0 else "10 % rollout staged"
        router.rollouts.staged = staged if block % 2 else None
        for i in range(200):
            env = {"agi_callerid": pop.pick(), "agi_uniqueid": f"1795500000.{block}.{i}"}
            t0 = time.perf_counter()
            await router.route(env, record=False)
            times[name].append((time.perf_counter() - t0) * 1000)
    router.rollouts.staged = None

    def q(xs: list[float], p: float) -> float:
        return round(sorted(xs)[int(p * (len(xs) - 1))], 3)

    return {k: {"calls": len(v), "p50_ms": q(v, 0.5), "p99_ms": q(v, 0.99)} for k, v in times.items()}


async def timed(work) -> tuple[float, object]:
    t0 = time.perf_counter()
    found = await work
    return time.perf_counter() - t0, found


async def main(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    redis, url = start_redis(tmp)
    try:
        pop = await load_customers(url, "b", args.customers)
        store = open_store(url, "b", timeout=30)
        rules = compile_rules(DEFAULT_RULES, DEFAULT_LIMITS)
        clock = Clock(0.0)
        router = Router(rules, store, clock=clock)
        t0 = time.perf_counter()
        entries = await route_day(router, pop, args.calls, clock)
        routed = time.perf_counter() - t0
        without = [{k: v for k, v in e.items() if k != "seen"} for e in entries]

        log = {"entry_bytes_with_record": statistics.mean(len(orjson.dumps(e)) for e in entries),
               "entry_bytes_without_record": statistics.mean(len(orjson.dumps(e)) for e in without),
               "record_bytes": statistics.mean(len(orjson.dumps(e["seen"])) for e in entries),
               "busy_devices_per_call": statistics.mean(len(e["seen"].get("b", ())) for e in entries)}
        log["writer_us_per_entry_without_record"] = round(await write_time(url, "w", store.calendar, without), 1)
        log["writer_us_per_entry_with_record"] = round(await write_time(url, "r", store.calendar, entries), 1)
        writing = open_store(url, "r0", timeout=30)
        memory = await writing.r.memory_usage(writing.k.decisions_day(DAY), samples=0)
        log["day_stream_bytes_per_call"] = round(memory / len(entries), 1)
        log["day_stream_entries"] = await writing.r.xlen(writing.k.decisions_day(DAY))

        replay: dict = {}
        for name, candidate, in_thread in (("same rules, in place (router replay)", rules, False),
                                           ("same rules, in a thread (GET /api/replay)", rules, True),
                                           ("one rule changed, in place", changed_rules(), False)):
            seconds, found = await timed(replay_days(writing, candidate, [DAY], in_thread=in_thread))
            replay[name] = {"seconds": round(seconds, 3), "calls": found.calls, "changed": found.changed}
        seconds, found = await timed(coverage_of(writing, rules, [DAY], in_thread=False))
        replay["coverage of the day (every rule on every call)"] = {"seconds": round(seconds, 3),
                                                                   "calls": found["logged_calls"]}
        latency = await route_latency(router, pop, clock, args.latency_calls)
        await writing.close()
        await store.close()
        return {"machine": machine(), "calls": args.calls, "customers": args.customers,
                "routing_the_day_seconds": round(routed, 1), "log": log, "replay": replay, "route": latency}
    finally:
        redis.terminate()
        redis.wait(10)


def report(r: dict) -> str:
    log = r["log"]
    lines = [f"{r['calls']:,} calls, {r['customers']:,} customers — {r['machine']}", "",
             "| the log | |", "|---|---|",
             f"| a log entry (JSON) | {log['entry_bytes_with_record']:.0f} bytes, "
             f"{log['entry_bytes_without_record']:.0f} without its replay record |",
             f"| the replay record alone (`seen`) | {log['record_bytes']:.0f} bytes, "
             f"{log['busy_devices_per_call']:.1f} busy devices a call |",
             f"| the day stream in Redis (MEMORY USAGE / calls) | {log['day_stream_bytes_per_call']:.0f} bytes "
             "a call |",
             f"| writer, per entry (batches of 100) | {log['writer_us_per_entry_with_record']} µs, "
             f"{log['writer_us_per_entry_without_record']} µs without the record and day stream |", "",
             "| replay | seconds | calls | changed |", "|---|---|---|---|"]
    for name, x in r["replay"].items():
        lines.append(f"| {name} | {x['seconds']} | {x['calls']:,} | {x.get('changed', '')} |")
    lines += ["", "| `Router.route` in-process | calls | p50 ms | p99 ms |", "|---|---|---|---|"]
    for name, x in r["route"].items():
        lines.append(f"| {name} | {x['calls']:,} | {x['p50_ms']} | {x['p99_ms']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--latency-calls", type=int, default=4000)
    result = asyncio.run(main(ap.parse_args()))
    print(report(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "replay.json").write_text(json.dumps(result, indent=2) + "\n")
