#!/usr/bin/env python3
"""Two routers behind one hagi:// DNS SRV name on a real Asterisk; the first one killed mid-call.

    python bench/failover.py              # 3 rounds, 20 calls before and 20 after the kill
    python bench/failover.py --rounds 1   # a check of the harness

Needs `asterisk` (20 or newer) on PATH and root (tests/live/srv.py: Asterisk gets a private
/etc/resolv.conf naming a DNS responder of the run's own). Each round starts that stack afresh
(the live suite's test_routers_live.py is the same scenario with assertions), places calls one at
a time and measures, from the Originate to the routed agent's DialBegin, the call with both
routers up and with r1 (SRV priority 10) killed, so that every call's connect is refused by r1
before Asterisk tries r2; and for the one call whose session was open on r1 when it died (r1
held inside the call by a stalled CRM lookup), the time from the kill to its QueueCallerJoin in
the fallback queue. Results: Markdown on stdout and bench/results/failover.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import machine, start_redis  # noqa: E402

from tests.live.conftest import PREFIX  # noqa: E402
from tests.live.srv import decided_by, dialled, joined_queue, outcomes_of, two_routers, why_not  # noqa: E402

RESULTS = ROOT / "bench" / "results"


async def timed_calls(stack, numbers: list[str]) -> list[float]:
    """Originate to DialBegin of the routed agent, one call at a time, in ms."""
    out = []
    for number in numbers:
        t0 = time.monotonic()
        await stack.ami.call("2001", number)
        e = await stack.ami.wait_for(dialled(number))
        out.append((float(e["_at"]) - t0) * 1000)
    return out


async def round_(url: str, n: int, serial: int) -> dict:
    async with two_routers(url) as stack:
        before = [f"+7916{serial % 10}1{i:05d}" for i in range(n)]  # numbers the CRM is asked about
        after = [f"+7916{serial % 10}2{i:05d}" for i in range(n)]
        victim = f"+7916{serial % 10}300000"
        await timed_calls(stack, [f"+7916{serial % 10}0{i:05d}" for i in range(3)])  # warm-up
        up = await timed_calls(stack, before)
        stack.crm.stalled = True
        await stack.ami.call("2001", victim)
        async with asyncio.timeout(10):
            await stack.crm.asked.wait()
        stack.routers["r1"].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        stack.crm.stalled = False
        joined = await stack.ami.wait_for(joined_queue(victim))
        down = await timed_calls(stack, after)
        by = [await decided_by(stack.r, stack.prefix, x) for x in after]
        fallbacks = sum(1 for e in stack.ami.events if e.get("Event") == "QueueCallerJoin"
                        and e.get("CallerIDNum") in set(after))
        recorded = await outcomes_of(stack.r, stack.prefix, {victim, *before, *after})
        return {"both_up_ms": up, "r1_dead_ms": down, "victim_to_fallback_ms": (float(joined["_at"]) - killed) * 1000,
                "victim_queue": joined["Queue"], "after_kill_by": sorted(set(by)), "after_kill_fallbacks": fallbacks,
                "outcomes_not_once": sum(1 for v in recorded.values() if len(v) != 1)}


async def bench(args) -> dict:
    if PREFIX is None:
        raise SystemExit("asterisk is not on PATH")
    if why_not():
        raise SystemExit(why_not())
    redis, url = start_redis(Path(tempfile.mkdtemp(prefix="callrouter-failover-")))
    try:
        rounds = [await round_(url, args.calls, i) for i in range(args.rounds)]
    finally:
        redis.terminate()
        redis.wait(10)
    up = [x for r in rounds for x in r["both_up_ms"]]
    down = [x for r in rounds for x in r["r1_dead_ms"]]
    return {"machine": machine(), "rounds": rounds, "summary": {
        "both routers up: Originate to agent ringing, p50 ms": statistics.median(up),
        "r1 dead (connect refused, r2 takes it): p50 ms": statistics.median(down),
        "r1 dead: max ms": max(down),
        "call whose router died mid-session: kill to fallback queue, ms (each round)":
            [round(r["victim_to_fallback_ms"], 1) for r in rounds],
        "calls after the kill sent to the fallback queue": sum(r["after_kill_fallbacks"] for r in rounds),
        "calls after the kill decided by": sorted({i for r in rounds for i in r["after_kill_by"]}),
        "outcomes recorded other than once": sum(r["outcomes_not_once"] for r in rounds)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=20, help="calls before and after the kill, per round")
    out = asyncio.run(bench(ap.parse_args()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "failover.json").write_text(json.dumps(out, indent=2))
    print(f"Machine: {out['machine']}\n\n| | measured |\n|---|---|")
    for k, v in out["summary"].items():
        print(f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |")


if __name__ == "__main__":
    main()
