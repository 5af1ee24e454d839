"""What one /metrics response costs: prometheus-client (what the router uses) against hand-written text.

    python bench/metrics.py                  # 20 and 500 follow-up owners
    python bench/metrics.py --owners 50 --rounds 5000

Both ways render the same scrape: the router's counters, a FastAGI server, an AMI listener and
the store's part (follow-ups per owner, the at-risk count) as router.web.metrics reads it. The
hand-written way is the text the router wrote before it used the library, with the label
escaping the format requires (backslash, double quote, newline) added, so both give the same
series. Then whole responses: GET /metrics over HTTP from a running router on its own
redis-server (the store's two reads included), with 20 open follow-ups. Prints a table, writes
results/metrics.json. A scrape every 15 s is the yardstick: what matters is the share of a
core one scrape takes, and the event loop time one response holds while calls wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.run import start_redis  # noqa: E402
from router.asterisk.agi import FastAGIServer  # noqa: E402
from router.asterisk.ami import AMITarget, Listener  # noqa: E402
from router.core.decide import CompiledRules  # noqa: E402
from router.core.outcome import Outcome  # noqa: E402
from router.core.rulefile import load_rules  # noqa: E402
from router.latency import LATENCY_BUCKETS_MS  # noqa: E402
from router.server import start  # noqa: E402
from router.service import Router  # noqa: E402
from router.state.factory import open_store  # noqa: E402
from router.web.metrics import AGI_COUNTERS, AMI_SERIES, StoreReadings, exposition  # noqa: E402

SCRAPE_INTERVAL = 15.0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def hand_written(router: Router, agi: FastAGIServer, ami: Listener, readings: StoreReadings) -> bytes:
    """The same series as text built line by line (the router's /metrics before prometheus-client)."""
    c, h = router.followups.counters, router.latency
    lines = ["# HELP callrouter_decisions_total Routing decisions made.", "# TYPE callrouter_decisions_total counter",
             f"callrouter_decisions_total {router.decisions}",
             "# TYPE callrouter_fallbacks_total counter", f"callrouter_fallbacks_total {router.fallbacks}",
             "# HELP callrouter_decision_latency_ms Identify + decide, store round trip included.",
             "# TYPE callrouter_decision_latency_ms histogram"]
    cumulative = 0
    for bound, n in zip((*LATENCY_BUCKETS_MS, "+Inf"), h.counts, strict=True):
        cumulative += n
        lines.append(f'callrouter_decision_latency_ms_bucket{{le="{bound}"}} {cumulative}')
    lines += [f"callrouter_decision_latency_ms_sum {h.sum:.3f}", f"callrouter_decision_latency_ms_count {cumulative}",
              "# TYPE callrouter_missed_calls_total counter", f"callrouter_missed_calls_total {c.missed_calls}",
              "# TYPE callrouter_sms_total counter", f'callrouter_sms_total{{result="sent"}} {c.sms_sent}',
              f'callrouter_sms_total{{result="skipped"}} {c.sms_skipped}',
              f'callrouter_sms_total{{result="failed"}} {c.sms_failed}',
              "# TYPE callrouter_escalations_total counter",
              f"callrouter_escalations_total {router.escalator.escalated}",
              "# TYPE callrouter_risk_entered_total counter", f"callrouter_risk_entered_total {router.risk.entered}"]
    a = agi.admission
    lines += ["# TYPE callrouter_agi_connections gauge",
              f'callrouter_agi_connections{{state="routing"}} {a.open - a.idle}',
              f'callrouter_agi_connections{{state="idle"}} {a.idle}',
              "# TYPE callrouter_agi_connections_limit gauge", f"callrouter_agi_connections_limit {a.max_connections}"]
    for name, help_text, series in AGI_COUNTERS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        lines += [f'{name}{{reason="{reason}"}} {agi.flood.totals[k]}' if reason else f"{name} {agi.flood.totals[k]}"
                  for k, reason in series]
    st = ami.status()
    for name, kind, help_text, key in AMI_SERIES:
        v = float(st[key] or 0)
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind.__name__[:-12].lower()}",
                  f'{name}{{host="{_label(st["host"])}"}} {int(v) if v.is_integer() else round(v, 3)}']
    lines.append("# TYPE callrouter_followups gauge")
    for owner, n in sorted((readings.followups or {}).items()):
        lines.append(f'callrouter_followups{{owner="{_label(owner)}",state="open"}} {n["open"]}')
        lines.append(f'callrouter_followups{{owner="{_label(owner)}",state="overdue"}} {n["overdue"]}')
    lines += ["# TYPE callrouter_at_risk gauge", f"callrouter_at_risk {readings.at_risk}"]
    return ("\n".join(lines) + "\n").encode()


def per_call_us(render, rounds: int) -> float:
    """Median of 5 batches, microseconds per render."""
    batches = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(rounds):
            render()
        batches.append((time.perf_counter() - t) / rounds * 1e6)
    return statistics.median(batches)


async def whole_responses(url: str, rounds: int) -> tuple[float, int]:
    """Median milliseconds of GET /metrics from a running router (20 open follow-ups), and the body's size."""
    store = open_store(url, "bench")
    router = Router(CompiledRules(load_rules(ROOT / "rules")), store)
    for i in range(20):
        await router.followups.on_outcome(Outcome(f"{i}.1", "inbound", f"+7903555{i:04d}", "missed", ring_seconds=20.0,
                                                  ended_at=time.time(), reason="no answer"))
    running = await start(router, ("127.0.0.1", 0), ("127.0.0.1", 0))
    try:
        times, size = [], 0
        async with aiohttp.ClientSession() as s:
            for _ in range(rounds):
                t = time.perf_counter()
                async with s.get(f"http://127.0.0.1:{running.http_port}/metrics") as resp:
                    size = len(await resp.read())
                times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times), size
    finally:
        await running.stop()
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--owners", type=int, nargs="+", default=[20, 500], help="follow-up owners in a scrape")
    ap.add_argument("--rounds", type=int, default=2000, help="renders per batch")
    args = ap.parse_args()
    store = open_store("redis://127.0.0.1:1/0")  # not contacted: the store's part is given
    router = Router(CompiledRules(load_rules(ROOT / "rules")), store)
    for ms in (0.4, 0.8, 1.5, 3.0, 12.0):
        router.latency.observe(ms)
    agi = FastAGIServer({"route": router.answer}, "127.0.0.1", 0)
    ami = Listener(AMITarget("127.0.0.1", 5038, "router", "secret"), store)
    results: dict = {"render_us": {}}
    print(f"{'owners':>7} {'hand-written':>14} {'prometheus-client':>18} {'library: % of a core at 15 s':>30}")
    for owners in args.owners:
        readings = StoreReadings({f"manager-{i}": {"open": i % 9, "overdue": i % 3} for i in range(owners)}, 42)
        hand = per_call_us(lambda r=readings: hand_written(router, agi, ami, r), args.rounds)
        lib = per_call_us(lambda r=readings: exposition(router, agi, ami, r), args.rounds)
        results["render_us"][owners] = {"hand_written": round(hand, 1), "prometheus_client": round(lib, 1)}
        print(f"{owners:>7} {hand:>11.1f} µs {lib:>15.1f} µs {lib / 1e6 / SCRAPE_INTERVAL * 100:>29.5f}%")
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(Path(tmp))
        try:
            ms, size = asyncio.run(whole_responses(url, 200))
        finally:
            proc.terminate()
            proc.wait(10)
    results["response_ms"] = round(ms, 3)
    results["response_bytes"] = size
    print(f"whole GET /metrics (HTTP, store reads, 20 follow-ups): {ms:.2f} ms median, {size:,} bytes")
    out = ROOT / "bench" / "results" / "metrics.json"
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
