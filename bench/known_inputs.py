"""What the per-caller inputs cost on the ring path: companies, strategy, last agent, the CRM.

Runs the router's own `route()` (identify + decide, its store round trips) in-process against a
redis-server of its own and a local HTTP "CRM", and reports latency and store round trips per
call for: the shipped rules; a caller found in a company's range; a CRM whose answer is cached;
a CRM miss answered in ~5 ms; a CRM that stalls past its 150 ms budget.

    python bench/known_inputs.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.core.decide import CompiledRules  # noqa: E402
from router.core.rulefile import load_rules, load_rules_text  # noqa: E402
from router.service import Router  # noqa: E402
from router.state.factory import open_store  # noqa: E402
from tests.conftest import free_port  # noqa: E402

CRM_RULES = (ROOT / "rules" / "examples" / "crm-generic.yaml").read_text()


async def crm_server(delay: float) -> tuple[web.AppRunner, int]:
    async def lookup(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.json_response({"contact": {"name": "Olga", "class": "gold", "manager": "ivanov"}})

    app = web.Application()
    app.router.add_get("/api/v1/contacts/lookup", lookup)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def measure(router: Router, numbers: list[str]) -> dict:
    trips = 0
    original = router.store.round_trip

    async def counted(*a, **kw):
        nonlocal trips
        trips += 1
        return await original(*a, **kw)

    router.store.round_trip = counted
    ms = []
    for uid, number in enumerate(numbers):
        t0 = time.perf_counter()
        await router.route({"agi_callerid": number, "agi_uniqueid": f"b.{uid}"})
        ms.append((time.perf_counter() - t0) * 1000)
    router.store.round_trip = original
    ms.sort()
    return {"calls": len(ms), "p50_ms": round(statistics.median(ms), 3), "p99_ms": round(ms[int(len(ms) * .99)], 3),
            "max_ms": round(ms[-1], 3), "round_trips_per_call": round(trips / len(ms), 3)}


async def run(calls: int) -> dict:
    url = f"redis://127.0.0.1:{redis_port}/0"
    store = open_store(url, "bench")
    await store.r.flushdb()
    await store.put_company("acme", {"name": "ACME", "abc": "A", "manager": "ivanov"},
                            [(749500000000000, 749599999999999)])
    shipped = CompiledRules(load_rules(ROOT / "rules"), "rules")
    out = {}
    router = Router(shipped, store, budget=1.0)
    out["shipped rules, unknown callers"] = await measure(router, [f"+7916{i:07d}" for i in range(calls)])
    out["shipped rules, branch numbers"] = await measure(router, [f"+7495{i:07d}" for i in range(calls)])
    cases = (("CRM miss answered in ~5 ms", 0.005, calls // 4), ("CRM stalls 1 s (budget 150 ms)", 1.0, 20))
    for name, delay, n in cases:
        runner, port = await crm_server(delay)
        text = CRM_RULES.replace("https://crm.example.com", f"http://127.0.0.1:{port}")
        router = Router(CompiledRules(load_rules_text(text), "crm"), store, budget=1.0)
        numbers = [f"+7903{i:07d}" for i in range(n)] if delay < 1 else [f"+7904{i:07d}" for i in range(n)]
        out[name] = await measure(router, numbers)
        if delay < 1:
            await router.crm.drain()
            out["CRM cache hit"] = await measure(router, numbers * 4)
        await router.crm.close()
        await runner.cleanup()
    await store.close()
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    redis_port = free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(redis_port), "--save", "",
                                 "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            results = asyncio.run(run(args.calls))
        finally:
            proc.terminate()
            proc.wait()
    (ROOT / "bench" / "results" / "known_inputs.json").write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results.items():
        print(f"{name:<36} p50 {r['p50_ms']:>7} ms  p99 {r['p99_ms']:>7} ms  max {r['max_ms']:>8} ms  "
              f"round trips/call {r['round_trips_per_call']}  ({r['calls']} calls)")
