#!/usr/bin/env python3
"""Soak: what a day of calls leaves in Redis, per call, per number and per task.

    python bench/soak.py --minutes 20                       # 60 calls/s, a real day's mix
    python bench/soak.py --minutes 6 --missed 0.25 --name soak-check   # another mix, to check the rule
    python bench/soak.py --minutes 1                        # a check of the harness
    python bench/soak.py --show bench/results/soak.json     # a saved run against the rule as it is now

A `router serve` of this checkout follows calls on an AMI simulator (router/asterisk/amisim.py,
pbxsim.py, talk and ring time played 60 times faster than life) while calls arrive at a steady
rate over FastAGI (router/asterisk/callsim.py): 75 % known customers, 15 % numbers never seen,
10 % callers who called a minute ago; `--missed` of them hang up before anyone answers (a
follow-up task, an SMS and webhooks, through the outbox to a local target), and 70 % of those
are called back (80 % of the callbacks answered, closing the task). Redis's `used_memory` is
sampled every 10 s; at the end every key under the prefix is measured (`MEMORY USAGE … SAMPLES 0`)
and put in a family with its lifetime (its TTL read back, or the cap that bounds it):

| family | keys | bounded by |
|---|---|---|
| log | the decision, outcome and live-event streams | the newest 100,000 entries (10,000 live) |
| decision | `decision:ID`, what follow-ups and the report need of a decision | 2 days |
| outcome | `outcome:ID`, `seen:…` (the once-only claim) | 30 days |
| raw call | the call's record in `calls:DAY` | `report.keep_calls` (90 days) |
| number | a caller's `state`, `in`, `newest`, `events`, `evids`, `risk`, `crm` | `retention.numbers` (400 days) |
| task | a follow-up with its log | `retention.tasks` (400 days) after it closes |

A number's keys grow with its calls (each adds to its history and events), so their bytes are
fitted as a fixed part per number plus a part per inbound call. `SIZING` is the rule that
docs/operations.md gives, with its rounded figures; every run prints what it predicts for the
run's own calls, numbers and tasks next to what Redis grew by. Results: Markdown on stdout and
bench/results/<name>.json (default `soak`; bench/README.md, "Sizing").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import DEFAULT_RULES, RESULTS, free_port, load_customers, machine, start_redis, wait_port  # noqa: E402

from router.asterisk.amisim import AMIServer  # noqa: E402
from router.asterisk.callsim import call  # noqa: E402
from router.asterisk.pbxsim import Attempt, SimulatedPBX  # noqa: E402
from router.state.factory import open_store  # noqa: E402
from tests.fake_services import Sink, notify_section  # noqa: E402

PREFIX = "cr"
SPEED = 60.0
"""Simulated seconds per real second: a 3-minute conversation plays in 3 s."""
AGENTS = [f"PJSIP/{n}" for n in range(201, 221)]
FAMILIES = [
    ("log: decisions", re.compile(r"^cr:\{log\}:decisions$")),
    ("log: outcomes", re.compile(r"^cr:\{log\}:outcomes$")),
    ("log: live events", re.compile(r"^cr:\{log\}:live$")),
    ("decision", re.compile(r"^cr:decision:")),
    ("outcome", re.compile(r"^cr:(outcome|seen):")),
    ("raw call", re.compile(r"^cr:calls:")),
    ("report counters", re.compile(r"^cr:report:")),
    ("customer", re.compile(r"^cr:\{\+\d+\}:customer$")),
    ("number", re.compile(r"^cr:\{\+?\d+\}:")),
    ("task", re.compile(r"^cr:\{tasks\}:")),
    ("risk list", re.compile(r"^cr:\{risk\}:")),
    ("outbox", re.compile(r"^cr:\{outbox\}:")),
    ("journal", re.compile(r"^cr:\{journal\}:")),
]


NUMBER_KEY = re.compile(r"^cr:\{(\+?\d+)\}:(?!customer$)(\w+)$")

SIZING = {"log": 1600, "decision": 300, "outcome": 500, "raw call": 560, "number": 1260, "number call": 340,
          "task": 1800, "overhead": 1.05}
"""The rule in docs/operations.md ("Sizing"), in bytes: per call in the log, its decision record, its outcome
and claim, its raw record; per number and per inbound call in its history; per task; and Redis's own overhead
over the keys' sizes."""


def predicted(calls: int, numbers: int, tasks: int, rule: dict = SIZING) -> float:
    """What the rule says a run of `calls` calls from `numbers` numbers opening `tasks` tasks adds to Redis
    (nothing has expired yet, the log is under its cap)."""
    per_call = rule["log"] + rule["decision"] + rule["outcome"] + rule["raw call"] + rule["number call"]
    return rule["overhead"] * (calls * per_call + numbers * rule["number"] + tasks * rule["task"])


def fit(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least squares `bytes = a + b * calls` over (calls, bytes) of each number."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - b * mx, b


def family(key: str) -> str:
    return next((name for name, pattern in FAMILIES if pattern.match(key)), "other")


def rules_with_sink(port: int, directory: Path) -> Path:
    """The shipped rules with their `notify:` sending to the local target (SMS and webhooks)."""
    text = DEFAULT_RULES.read_text()
    start = text.index("\nnotify:")
    end = text.index("\ntypes:", start)
    path = directory / "rules.yaml"
    path.write_text(text[:start] + notify_section(port, "24h") + text[end:])
    return path


class Day:
    """Callers and what happens to their calls, drawn from one seeded generator."""

    def __init__(self, pop, missed: float, seed: int = 7):
        self.pop, self.missed, self.rnd = pop, missed, random.Random(seed)

    def attempts(self) -> tuple[list[Attempt], bool]:
        r = self.rnd
        if r.random() < self.missed:
            return [Attempt("queue", "support", "hangup", ring=r.uniform(10, 60))], True
        return [Attempt("queue", "support", "answer", ring=r.uniform(3, 25), talk=r.uniform(30, 300),
                        member=r.choice(AGENTS))], False


async def redis_info(store) -> dict:
    return await store.r.info("memory")


async def census(store, per_number: Counter[tuple[str, str]]) -> dict:
    """MEMORY USAGE of every key under the prefix, per family: bytes, keys, and the longest TTL seen; the bytes
    of each number's keys in `per_number`, by (number, key kind)."""
    usage: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    ttl: dict[str, int] = defaultdict(lambda: -2)
    batch: list[str] = []

    async def measure(names: list[str]) -> None:
        p = store.r.pipeline(transaction=False)
        for k in names:
            p.memory_usage(k, samples=0)
            p.ttl(k)
        got = await p.execute()
        for k, size, left in zip(names, got[0::2], got[1::2], strict=True):
            f = family(k)
            if f == "number" and (m := NUMBER_KEY.match(k)):
                per_number[(m.group(1), m.group(2))] += size or 0
            usage[f] += size or 0
            keys[f] += 1
            ttl[f] = max(ttl[f], left)

    async for key in store.r.scan_iter(match=f"{PREFIX}:*", count=2000):
        batch.append(key)
        if len(batch) >= 2000:
            await measure(batch)
            batch = []
    if batch:
        await measure(batch)
    return {f: {"bytes": usage[f], "keys": keys[f], "ttl_seconds": ttl[f]} for f in sorted(usage)}


def healthz(http: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=10) as r:
        return json.loads(r.read())


async def soak(args, tmp: Path, url: str) -> dict:
    pop = await load_customers(url, PREFIX, args.customers)
    sink = Sink()
    await sink.up()
    ami = AMIServer(secret="soak-s3cret")
    await ami.start()
    rules = rules_with_sink(sink.port, tmp)
    agi, http = free_port(), free_port()
    log = (tmp / "router.log").open("w")
    router = subprocess.Popen([sys.executable, "-m", "router", "serve", "--rules", str(rules), "--store", url,
                               "--prefix", PREFIX, "--agi", f"127.0.0.1:{agi}", "--http", f"127.0.0.1:{http}",
                               "--ami", f"ami://{ami.username}:{ami.secret}@127.0.0.1:{ami.port}"],
                              stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                              env={**os.environ, "ROUTER_INSTANCE": "soak"})
    await asyncio.to_thread(wait_port, agi, router)
    await asyncio.to_thread(wait_port, http, router)
    await asyncio.wait_for(ami.logged_in.wait(), 20)
    store = open_store(url, PREFIX, timeout=30)
    pbx = SimulatedPBX(ami, speed=SPEED)
    day = Day(pop, args.missed)
    before = int((await redis_info(store))["used_memory"])
    samples: list[tuple[float, int]] = []
    plays: set[asyncio.Task] = set()
    numbers: Counter[str] = Counter()
    placed = missed = callbacks = 0
    count = int(args.rate * args.minutes * 60)
    t0 = time.perf_counter()
    next_sample = t0

    def play(coro) -> None:
        task = asyncio.create_task(coro)
        plays.add(task)
        task.add_done_callback(plays.discard)

    async def callback_later(number: str) -> None:
        await asyncio.sleep(day.rnd.uniform(600, 1800) / SPEED)  # called back 10 to 30 minutes later
        await pbx.callback(day.rnd.choice(AGENTS), number, answered=day.rnd.random() < 0.8, ring=8,
                           talk=day.rnd.uniform(60, 240))

    for i in range(count):
        due = t0 + i / args.rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        number = pop.pick()
        res = await call(agi, number, uid=i + 1, timeout=10)
        placed += 1
        numbers[number] += 1
        attempts, was_missed = day.attempts()
        play(pbx.inbound(number, res.variables["ROUTE_DECISION"], attempts))
        if was_missed:
            missed += 1
            if day.rnd.random() < 0.7:
                callbacks += 1
                play(callback_later(number))
        if time.perf_counter() >= next_sample:
            samples.append((round(time.perf_counter() - t0, 1), int((await redis_info(store))["used_memory"])))
            next_sample += 10
    print(f"{placed} calls placed in {time.perf_counter() - t0:.0f} s; waiting for the last ones to end",
          file=sys.stderr)
    while plays:
        await asyncio.gather(*list(plays))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        xlen = await store.r.xlen(f"{PREFIX}:{{log}}:outcomes")
        h = await asyncio.to_thread(healthz, http)
        if xlen >= placed and h["outbox"]["depth"] == 0 and h["log_pending"] == 0:
            break
        await asyncio.sleep(1)
    info = await redis_info(store)
    after = int(info["used_memory"])
    number_bytes: Counter[tuple[str, str]] = Counter()
    families = await census(store, number_bytes)
    for name in ("decisions", "outcomes", "live"):
        families[f"log: {name}" if name != "live" else "log: live events"]["entries"] = \
            await store.r.xlen(f"{PREFIX}:{{log}}:{name}")
    whole: Counter[str] = Counter()
    for (n, _), b in number_bytes.items():
        whole[n] += b
    per_number, per_number_call = fit([(numbers[n], b) for n, b in whole.items() if n in numbers])
    by_key = {kind: fit([(numbers[n], number_bytes[(n, kind)]) for n in whole if n in numbers])
               for kind in sorted({kind for _, kind in number_bytes})}
    tasks_open = await store.r.zcard(f"{PREFIX}:{{tasks}}:open")
    tasks_closed = await store.r.zcard(f"{PREFIX}:{{tasks}}:closed")
    outcomes = await store.r.xlen(f"{PREFIX}:{{log}}:outcomes")
    await store.close()
    router.terminate()
    router.wait(30)
    log.close()
    await ami.close()
    await sink.down()
    return {"calls": placed, "outcomes": outcomes, "missed": missed, "callbacks": callbacks,
            "numbers": len(numbers), "tasks": tasks_open + tasks_closed, "tasks_open": tasks_open,
            "sms_and_webhooks": len(sink.taken), "customers": args.customers,
            "used_memory_before": before, "used_memory_after": after, "grew": after - before,
            "allocator_fragmentation_ratio": float(info.get("allocator_frag_ratio") or 0),
            "number_fit": {"per_number": round(per_number), "per_inbound_call": round(per_number_call),
                           "calls_per_number": round(placed / len(numbers), 2),
                           "by_key": {kind: {"per_number": round(a), "per_inbound_call": round(b)}
                                      for kind, (a, b) in by_key.items()}},
            "families": families, "samples": samples}


def kept(ttl: int) -> str:
    if ttl == -1:
        return "no TTL (bounded by size)"
    return f"{ttl / 86400:.1f} d" if ttl >= 86400 else f"{ttl / 60:.0f} min"


def summary(d: dict) -> str:
    f = d["families"]
    measured = sum(v["bytes"] for k, v in f.items() if k != "customer")
    calls = d["calls"]
    fitted = d["number_fit"]
    per = {
        "call, in the log (the newest 100,000)": sum(v["bytes"] for k, v in f.items() if k.startswith("log")) / calls,
        "call, 2 days (decision record)": f.get("decision", {}).get("bytes", 0) / calls,
        "call, 30 days (outcome and its claim)": f.get("outcome", {}).get("bytes", 0) / calls,
        "call, 90 days (raw record)": f.get("raw call", {}).get("bytes", 0) / calls,
        "number (all its keys)": f.get("number", {}).get("bytes", 0) / d["numbers"],
        f"number, fitted: fixed part ({fitted['calls_per_number']} calls a number here)": fitted["per_number"],
        "number, fitted: each inbound call in its history": fitted["per_inbound_call"],
        "task (open or closed, with its log)": f.get("task", {}).get("bytes", 0) / max(d["tasks"], 1),
    }
    rule = predicted(calls, d["numbers"], d["tasks"])
    lines = [f"{calls:,} calls ({d['missed']:,} missed, {d['callbacks']:,} called back) from "
             f"{d['numbers']:,} numbers; {d['tasks']:,} tasks ({d['tasks_open']:,} still open); "
             f"{d['sms_and_webhooks']:,} SMS and webhooks delivered",
             f"used_memory grew {d['grew'] / 1e6:.1f} MB = {d['grew'] / calls:,.0f} B a call (the keys measure "
             f"{measured / 1e6:.1f} MB: Redis's own overhead is {d['grew'] / max(measured, 1):.2f} ×)",
             f"the sizing rule predicts {rule / 1e6:.1f} MB: {100 * (rule - d['grew']) / d['grew']:+.0f} % of the "
             f"growth measured", "", "| per | bytes |", "|---|---|"]
    lines += [f"| {k} | {v:,.0f} |" for k, v in per.items()]
    if "by_key" in fitted:
        lines += ["", "| a number's key | bytes a number | bytes an inbound call |", "|---|---|---|"]
        lines += [f"| {k} | {v['per_number']:,} | {v['per_inbound_call']:,} |" for k, v in fitted["by_key"].items()]
    lines += ["", "| family | keys | entries | MB | longest TTL left |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['keys']:,} | {v.get('entries', ''):,} | {v['bytes'] / 1e6:.2f} | {kept(v['ttl_seconds'])} |"
              if "entries" in v else f"| {k} | {v['keys']:,} | | {v['bytes'] / 1e6:.2f} | {kept(v['ttl_seconds'])} |"
              for k, v in f.items()]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--rate", type=float, default=60, help="calls a second (default 60)")
    ap.add_argument("--missed", type=float, default=0.12, help="share of calls nobody answers (default 0.12)")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--name", default="soak")
    ap.add_argument("--show", metavar="RESULTS", help="print a saved run (bench/results/*.json) and exit")
    args = ap.parse_args()
    if args.show:
        data = json.loads(Path(args.show).read_text())
        print(f"{data['machine']}\n$ {data['command']}\n\n{summary(data)}")
        return
    tmp = Path(tempfile.mkdtemp(prefix="callrouter-soak-"))
    redis_proc, url = start_redis(tmp)
    try:
        t0 = time.time()
        data = asyncio.run(soak(args, tmp, url))
        data.update(machine=machine(), command=" ".join(sys.argv), seconds=round(time.time() - t0),
                    args=vars(args))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
        print(f"\n{data['machine']}\n$ {data['command']}\n\n{summary(data)}")
    finally:
        redis_proc.terminate()


if __name__ == "__main__":
    main()
