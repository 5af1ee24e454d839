"""How long the daily report takes: a simulated day of 5,000 calls, then the report of that day and of a month.

    python bench/report.py               # 5,000 calls; prints the report and the times
    python bench/report.py --calls 10000

Starts its own redis-server on a free port. Every call goes the way production writes it: the
decision through the decision log's batch writer (Store.append_decisions), the outcome through
the AMI writer's Store.record_outcome (which counts it in the day's report); follow-ups opened
and closed through Store.count. The month is the day's counters copied to 29 more days (the
report reads counters, never calls, so that is what a month costs). Results: results/report.json.
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
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import start_redis  # noqa: E402
from router.core.decide import CompiledRules  # noqa: E402
from router.core.outcome import Outcome  # noqa: E402
from router.core.rulefile import load_rules  # noqa: E402
from router.reports.reader import calls_csv, report  # noqa: E402
from router.reports.report import text  # noqa: E402
from router.reports.tally import day_of, tally_followup_closed, tally_followup_opened  # noqa: E402
from router.service import calendar_of  # noqa: E402
from router.state.factory import open_store  # noqa: E402
from router.state.store import Store  # noqa: E402

DAY = "2026-11-23"
TYPES = (("support", 40), ("payment", 10), ("tariff", 8), ("coordination", 10), ("new_connection", 25),
         ("churn", 2), ("internal", 5))
AGENTS = ("PJSIP/101", "PJSIP/102", "PJSIP/103", *(f"Local/agent{i}@agents" for i in range(1, 38)))
"""40 people answering: a day of 5,000 calls keeps them on the phone about a third of the working day."""
QUEUES = ("support", "new-connection", "operators", "retention")


async def simulate(store: Store, rules: CompiledRules, calls: int, rnd: random.Random) -> dict:
    zone = rules.company_zone
    start = datetime.fromisoformat(DAY).replace(hour=8, tzinfo=zone).timestamp()
    names, weights = zip(*TYPES, strict=True)
    decisions, outcomes = [], []
    for i in range(calls):
        at = start + i * (12 * 3600 / calls)
        kind = rnd.choices(names, weights)[0]
        internal = kind == "internal"
        number = f"{200 + i % 50}" if internal else f"+7916{rnd.randrange(10**7):07d}"
        did = rnd.choice(("88006008208", "88006008200", "84951234567"))
        d_id = f"{int(at * 1000):011x}{i & 0xFFFFF:05x}beef"
        queue = rnd.choice(QUEUES)
        decisions.append({"id": d_id, "at": at, "rule": "everyone else", "type": "" if internal else kind,
                          "prospect": kind == "new_connection", "fallback": False, "priority": 0,
                          "latency_ms": 0.2, "reasons": [],
                          "steps": [{"type": "queue", "dest": queue, "timeout": 60, "name": "support"}],
                          "call": {"dnid": did}, "caller": {"number": number, "kind": "known", "abc": "",
                                                          "manager": rnd.choice(("ivanov", "petrova", ""))}})
        answered = rnd.random() < 0.65
        ring = round(rnd.lognormvariate(2.2, 0.6), 1)
        talk = round(rnd.lognormvariate(4.8, 0.7), 1) if answered else 0.0
        outcomes.append({"linkedid": f"{1795400000 + i}.{i}", "direction": "inbound", "number": number,
                         "result": "answered" if answered else "missed", "by": rnd.choice(AGENTS) if answered else "",
                         "queue": queue if answered else "", "decision": d_id, "ring_seconds": ring,
                         "talk_seconds": talk, "ended_at": at + ring + talk, "reason": ""})
    missed = [o for o in outcomes if o["result"] == "missed" and o["number"].startswith("+")]
    for j, o in enumerate(missed[: len(missed) * 2 // 3]):
        answered = j % 3 != 0
        at = o["ended_at"] + rnd.uniform(300, 5400)
        outcomes.append({"linkedid": f"{1795500000 + j}.{j}", "direction": "outbound", "number": o["number"],
                         "result": "answered" if answered else "missed", "by": rnd.choice(AGENTS), "queue": "",
                         "decision": "", "ring_seconds": 8.0, "talk_seconds": 120.0 if answered else 0.0,
                         "ended_at": at + 8 + (120 if answered else 0), "reason": ""})
    t0 = time.perf_counter()
    for k in range(0, len(decisions), 100):
        await store.append_decisions(decisions[k:k + 100])
    t1 = time.perf_counter()
    for o in outcomes:
        await store.record_outcome(Outcome.from_record(o))
    t2 = time.perf_counter()
    for j, o in enumerate(missed):
        owner = rnd.choice(("ivanov", "petrova", "sales-lead", "duty"))
        created = o["ended_at"]
        await store.count(day_of(created, zone), tally_followup_opened(owner))
        if j % 4:
            closed = created + rnd.uniform(300, 7200)
            task = {"owner": owner, "created": created, "deadline": created + 1800}
            await store.count(day_of(closed, zone), tally_followup_closed(task, closed))
    return {"decisions": len(decisions), "outcomes": len(outcomes), "decision_log_seconds": round(t1 - t0, 2),
            "outcome_write_ms_each": round((t2 - t1) * 1000 / len(outcomes), 3)}


async def timed(fn, runs: int = 20) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = await fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times), result


async def main(calls: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(Path(tmp))
        try:
            rules = CompiledRules(load_rules(ROOT / "rules" / "default.yaml"), "rules/default.yaml")
            store = open_store(url, "bench", timeout=10)
            store.calendar = calendar_of(rules)
            wrote = await simulate(store, rules, calls, random.Random(7))
            now = datetime.fromisoformat(DAY).replace(hour=23, tzinfo=rules.company_zone).timestamp()
            day_ms, day_max, rep = await timed(lambda: report(store, rules, [DAY], now))
            counters = await store.r.hgetall(store.k.report_day(DAY))
            first = date.fromisoformat(DAY)
            month = [(first - timedelta(days=i)).isoformat() for i in range(29, -1, -1)]
            for d in month[:-1]:
                await store.r.hset(store.k.report_day(d), mapping=counters)
            month_ms, month_max, _ = await timed(lambda: report(store, rules, month, now))
            csv_ms, _, body = await timed(lambda: calls_csv(store, [DAY]), runs=5)
            await store.close()
        finally:
            proc.terminate()
            proc.wait(10)
    print(text(rep))
    out = {"calls": calls, **wrote, "counter_fields_per_day": len(counters),
           "report_day_ms_median": round(day_ms, 2), "report_day_ms_max": round(day_max, 2),
           "report_month_ms_median": round(month_ms, 2), "report_month_ms_max": round(month_max, 2),
           "csv_day_ms_median": round(csv_ms, 1), "csv_rows": body.count("\n") - 1}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()
    result = asyncio.run(main(args.calls))
    (ROOT / "bench" / "results" / "report.json").write_text(json.dumps(result, indent=2) + "\n")
