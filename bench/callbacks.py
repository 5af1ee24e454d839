"""What a callback costs the store, and the worklist's look for the next task: off the calls' path, measured.

    python bench/callbacks.py              # 2,000 claims; a worklist of 2,000 open tasks
    python bench/callbacks.py --tasks 10000

Starts its own redis-server on a free port. A claim (router/state/callbacks.py) is one WATCH/MULTI
transaction: the task re-read, the customer's and the agent's locks, the rate-limit counters, the attempt
written; a release frees them. Two routers claiming the same customers at once measure the retries and
check that each customer was claimed once. The worklist's pick (`Dialler.offer`) reads the open tasks in the
strategy's order and each candidate's customer record. Results: results/callbacks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import start_redis  # noqa: E402
from router.core.decide import CompiledRules  # noqa: E402
from router.core.rulefile import load_rules_text  # noqa: E402
from router.core.tasks import NewTask  # noqa: E402
from router.people.accounts import User  # noqa: E402
from router.service import Router  # noqa: E402
from router.state.factory import open_store  # noqa: E402
from router.state.store import Store  # noqa: E402

RULES = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  support: {queue: support}
fallback: [support]
callbacks:
  worklist:
    - {owner: ivanov, mode: preview}
"""
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()  # a Monday afternoon


def ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"median_ms": round(statistics.median(s) * 1000, 3), "p99_ms": round(s[int(len(s) * 0.99)] * 1000, 3)}


async def tasks(store: Store, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        number = f"+7916{i:07d}"
        task: NewTask = {"id": f"fu-bench-{i}", "number": number, "owner": "ivanov", "state": "open",
                         "created": NOW - 600, "deadline": NOW + 1800 + i, "priority": i % 4,
                         "segment": ("new", "A", "B", "C")[i % 4], "count": 1}
        await store.open_task(number, task, {"at": NOW - 600, "text": "missed call"})
        out.append((task["id"], number))
    return out


async def main(n: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-callbacks-"))
    proc, url = start_redis(tmp)
    try:
        store = open_store(url, "bench")
        made = await tasks(store, n)
        claims, releases = [], []
        for i, (task_id, number) in enumerate(made):
            t0 = time.perf_counter()
            got, _ = await store.claim_callback(task_id, number, f"PJSIP/{i}", f"t{i}|ivanov", NOW, 600, 40,
                                                100000, 100000, "bench")
            claims.append(time.perf_counter() - t0)
            assert got == "ok", got
            t0 = time.perf_counter()
            await store.release_callback(number)
            releases.append(time.perf_counter() - t0)

        other = open_store(url, "bench")  # a second router: both claim each customer at the same moment
        won: list[str] = []
        pairs = []
        for i, (task_id, number) in enumerate(made[:500]):
            t0 = time.perf_counter()
            pair = await asyncio.gather(*(s.claim_callback(task_id, number, f"PJSIP/x{k}{i}", f"r{k}", NOW + 60, 600,
                                                           40, 100000, 100000, "race")
                                          for k, s in enumerate((store, other))))
            pairs.append(time.perf_counter() - t0)
            won += [c for c, _ in pair]
        assert won.count("ok") == 500, "each customer claimed exactly once"
        await other.close()

        rules = CompiledRules(load_rules_text(RULES))
        router = Router(rules, store, clock=lambda: NOW + 3600)  # past the attempts' spacing
        for _, number in made:
            await store.release_callback(number)
        user = User("ivanov", "agent", devices=("PJSIP/101",))
        offers = []
        for _ in range(20):
            t0 = time.perf_counter()
            offer = await router.dialler.offer(user)
            offers.append(time.perf_counter() - t0)
            assert offer["task"] is not None, offer["passed"][:3]
        await router.followups.outbox.close()
        await store.close()
        return {"tasks": n, "claim": ms(claims), "release": ms(releases),
                "two_routers_500_customers": {**ms(pairs), "claimed_once": True,
                                              "lost_to_the_other": won.count("busy")},
                "worklist_offer": ms(offers)}
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=2000)
    result = asyncio.run(main(p.parse_args().tasks))
    out = ROOT / "bench" / "results" / "callbacks.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
