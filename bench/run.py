#!/usr/bin/env python3
"""Benchmark: the router against the bare-FastAGI floor, alternating so that machine drift cancels.

    python bench/run.py                  # main comparison (100k customers, shipped + 1,000 rules)
    python bench/run.py --scaling        # 1k vs 1M customers, 10 vs 1,000 rules
    python bench/run.py --classic        # process-per-call AGI reference
    python bench/run.py --quick          # a short smoke run of the harness itself

Results are printed as Markdown and written to bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.asterisk.callsim import Channel, headers  # noqa: E402
from router.state.factory import open_store  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_RULES = ROOT / "rules" / "default.yaml"
MANAGERS = ("ivanov", "petrova", "sidorov")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process {proc.args} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp),
                             "--logfile", str(tmp / "redis.log")])
    wait_port(port, proc)
    return proc, f"redis://127.0.0.1:{port}/0"


@dataclass
class Population:
    """Callers by kind, so that every run offers the same mix."""

    a: list[str]
    b: list[str]
    c: list[str]
    rnd: random.Random = field(default_factory=lambda: random.Random(42))
    recent: list[str] = field(default_factory=list)
    fresh: int = 0

    def pick(self) -> str:
        x = self.rnd.random()
        if x < 0.25:
            n = self.rnd.choice(self.a)
        elif x < 0.55:
            n = self.rnd.choice(self.b)
        elif x < 0.75:
            n = self.rnd.choice(self.c)
        elif x < 0.90:
            self.fresh += 1
            n = f"+7916{self.rnd.randrange(10**7):07d}"
        else:
            n = self.rnd.choice(self.recent) if self.recent else self.rnd.choice(self.b)
        self.recent.append(n)
        if len(self.recent) > 500:
            del self.recent[:250]
        return n


async def load_customers(url: str, prefix: str, n: int) -> Population:
    store = open_store(url, prefix, timeout=30)
    pop = Population([], [], [])
    batch: list[tuple[str, dict[str, str]]] = []
    for i in range(n):
        number = f"+7903{i:07d}"
        cls = "ABC"[0 if i % 10 < 2 else (1 if i % 10 < 6 else 2)]
        fields = {"name": f"Customer {i}", "abc": cls}
        if cls != "C":
            fields["manager"] = MANAGERS[i % 3]
        if i % 13 == 0:
            fields["tags"] = "vip"
        batch.append((number, fields))
        (pop.a if cls == "A" else pop.b if cls == "B" else pop.c).append(number)
        if len(batch) >= 5000:
            await store.put_customers(batch)
            batch = []
    if batch:
        await store.put_customers(batch)
    await store.set_device_state("PJSIP/102", "INUSE")
    await store.close()
    return pop


def write_rules(directory: Path, extra: int, base: Path = DEFAULT_RULES) -> Path:
    """The shipped rules, preceded by `extra` generated rules that never match (so they are all evaluated)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(base, directory / "50-default.yaml")
    if extra:
        rnd = random.Random(1)
        lines = ["version: 1", "rules:"]
        shapes = [
            lambda i: f'{{dnid: "7{i:09d}"}}',
            lambda i: f'{{prefix: ["+1{i:06d}"], kind: new}}',
            lambda i: f'{{tags: [never-{i}], abc: A}}',
            lambda i: f'{{manager: [ivanov], dnid: ["8{i:09d}"]}}',
            lambda i: f'{{any: [{{dnid: "9{i:09d}"}}, {{tags: [no-{i}]}}]}}',
            lambda i: f'{{calls_within: {{days: 7, at_least: {1000 + i}}}}}',
            lambda i: '{local_hours: "03:00-03:01", hours: "04:00-04:01", kind: [returning]}',
        ]
        for i in range(extra):
            lines += [f"  - name: generated {i}", f"    when: {rnd.choice(shapes)(i)}", "    route: [support]"]
        (directory / "00-generated.yaml").write_text("\n".join(lines) + "\n")
    return directory


def start_router(rules: Path, url: str, prefix: str) -> tuple[subprocess.Popen, int, int]:
    agi, http = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "router", "serve", "--rules", str(rules), "--store", url,
                             "--prefix", prefix, "--agi", f"127.0.0.1:{agi}", "--http", f"127.0.0.1:{http}"],
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=ROOT)
    wait_port(agi, proc)
    wait_port(http, proc)
    return proc, agi, http


def start_floor(url: str, prefix: str, variables: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "floor.py"), str(port), url, str(variables),
                             prefix], stderr=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the floor server did not start")
    return proc, port


async def one_call(port: int, number: str, uid: int) -> tuple[bool, int]:
    """One call as Asterisk places it; (ok, commands)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chan = Channel()
    try:
        writer.write(headers("route", uid, number, "", "88006008208", "s"))
        async with asyncio.timeout(10):
            while raw := await reader.readline():
                writer.write("".join(f"{o}\n" for o in chan.reply(raw.decode().rstrip("\n"))).encode())
    finally:
        writer.close()
    return bool(chan.variables), len(chan.commands)


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    commands: list[int] = field(default_factory=list)

    async def place(self, port: int, number: str, uid: int, since: float) -> None:
        """One call; its latency counts from `since` (the start, or the scheduled arrival)."""
        try:
            ok, n = await one_call(port, number, uid)
        except Exception:
            ok, n = False, 0
        if ok:
            self.latencies.append(time.perf_counter() - since)
            self.commands.append(n)
        else:
            self.errors += 1

    def add(self, other: Run) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.seconds += other.seconds
        self.commands += other.commands

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        if not lat:
            return {"calls": 0, "errors": self.errors}

        def q(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3)

        return {"calls": len(lat), "errors": self.errors, "cps": round(len(lat) / self.seconds, 1),
                "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": round(lat[-1] * 1000, 3),
                "mean_ms": round(statistics.fmean(lat) * 1000, 3)}


async def closed_loop(port: int, pop: Population, concurrency: int, calls: int) -> Run:
    run = Run()
    uid = iter(range(10**9))
    left = [calls]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await run.place(port, pop.pick(), next(uid), time.perf_counter())

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.seconds = time.perf_counter() - t0
    return run


async def open_loop(port: int, pop: Population, rate: float, calls: int, seed: int) -> Run:
    """Poisson arrivals; latency counts from the scheduled arrival, so a lagging server is charged for it."""
    run = Run()
    rnd = random.Random(seed)
    tasks = []

    start = time.perf_counter()
    at = start
    for uid in range(calls):
        at += rnd.expovariate(rate)
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(run.place(port, pop.pick(), uid, at)))
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - start
    return run


async def profile(pid: int, port: int, pop: Population, seconds: int = 8) -> None:
    """py-spy on the router during a closed-loop run at concurrency 50: where its time goes."""
    out = RESULTS / "profile-router.raw"
    RESULTS.mkdir(exist_ok=True)
    spy = subprocess.Popen(["py-spy", "record", "-p", str(pid), "-d", str(seconds), "-r", "500", "-f", "raw",
                            "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await closed_loop(port, pop, 50, 6000)
    spy.wait()
    totals: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        total += int(n)
        frames = [f.split(" (")[0] + " " + f.rsplit("(", 1)[-1].split(":")[0] for f in stack.split(";")]
        for frame in dict.fromkeys(frames):
            totals[frame] = totals.get(frame, 0) + int(n)
        own[frames[-1]] = own.get(frames[-1], 0) + int(n)
    lines = [f"{100 * n / total:5.1f}%  {f}" for f, n in sorted(totals.items(), key=lambda x: -x[1])[:40]]
    selves = [f"{100 * n / total:5.1f}%  {f}" for f, n in sorted(own.items(), key=lambda x: -x[1])[:30]]
    (RESULTS / "profile-router.txt").write_text("inclusive time per function, router at concurrency 50\n"
                                                + "\n".join(lines) + "\n\nown time per function\n"
                                                + "\n".join(selves) + "\n")
    out.unlink()
    print("\n".join(lines[:25]))


def decision_latencies(http_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/decisions?limit=1000", timeout=10) as r:
        lat = sorted(e["latency_ms"] for e in json.loads(r.read()))
    return {"decisions": len(lat), "p50_ms": round(lat[len(lat) // 2], 3),
            "p99_ms": round(lat[int(len(lat) * 0.99)], 3), "max_ms": round(lat[-1], 3)}


async def compare(servers: dict[str, int], pops: dict[str, Population], scenarios: list[tuple[str, str, float, int]],
                  rounds: int) -> dict:
    """Each scenario on every server, alternating the order each round."""
    out: dict = {}
    names = list(servers)
    for label, mode, x, calls in scenarios:
        runs = {n: Run() for n in names}
        for rnd in range(rounds):
            order = names if rnd % 2 == 0 else names[::-1]
            for name in order:
                port = servers[name]
                if mode == "closed":
                    r = await closed_loop(port, pops[name], int(x), calls // rounds)
                else:
                    r = await open_loop(port, pops[name], x, calls // rounds, seed=rnd)
                runs[name].add(r)
        out[label] = {n: runs[n].summary() for n in names}
        print(f"  {label}: " + "  ".join(f"{n} {out[label][n]}" for n in names), flush=True)
    return out


def table(results: dict, a: str, b: str) -> str:
    lines = [f"| scenario | {a} calls/s | {a} p50 ms | {a} p99 ms | {a} max ms | {a} errors | "
             f"{b} calls/s | {b} p50 ms | {b} p99 ms | {b} max ms | {b} errors | {a}/{b} calls/s | {a}/{b} p99 |",
             "|---" * 13 + "|"]
    for label, r in results.items():
        x, y = r[a], r[b]
        lines.append(f"| {label} | {x['cps']} | {x['p50_ms']} | {x['p99_ms']} | {x['max_ms']} | {x['errors']} | "
                     f"{y['cps']} | {y['p50_ms']} | {y['p99_ms']} | {y['max_ms']} | {y['errors']} | "
                     f"{x['cps'] / y['cps']:.2f} | {x['p99_ms'] / y['p99_ms']:.2f} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}")


async def main_compare(args, tmp: Path, url: str) -> dict:
    prefix = "bench"
    print(f"loading {args.customers} customers …", flush=True)
    pop_router = await load_customers(url, prefix, args.customers)
    pop_floor = Population(pop_router.a, pop_router.b, pop_router.c)
    rules = write_rules(tmp / "rules", args.rules)
    router, agi, http = start_router(rules, url, prefix)
    try:
        await closed_loop(agi, pop_router, 1, 300)  # warm-up; also measures the command count
        probe = await closed_loop(agi, pop_router, 1, 500)
        variables = round(statistics.fmean(probe.commands))
        floor, floor_port = start_floor(url, prefix, variables)
        try:
            await closed_loop(floor_port, pop_floor, 1, 300)
            n = args.calls
            scenarios = [("closed c=1", "closed", 1, n), ("closed c=50", "closed", 50, n),
                         ("closed c=200", "closed", 200, n), ("open 100/s", "open", 100, n),
                         ("open 200/s", "open", 200, n), ("open 500/s", "open", 500, n)]
            print(f"router sets {variables} variables per call on average; the floor sets as many", flush=True)
            results = await compare({"router": agi, "floor": floor_port},
                                    {"router": pop_router, "floor": pop_floor}, scenarios, args.rounds)
            await closed_loop(agi, pop_router, 1, 1000)
            dec = decision_latencies(http)
            if args.profile:
                await profile(router.pid, agi, pop_router)
        finally:
            floor.terminate()
    finally:
        router.terminate()
    return {"results": results, "decision": dec, "variables": variables, "customers": args.customers,
            "extra_rules": args.rules, "table": table(results, "router", "floor")}


async def main_scaling(args, tmp: Path, url: str) -> dict:
    out = {}
    print("loading 1k and 1M customers …", flush=True)
    pops = {"1k": await load_customers(url, "s1k", 1000), "1M": await load_customers(url, "s1m", 1_000_000)}
    servers, procs = {}, []
    rules_10 = write_rules(tmp / "r10", 0)
    rules_1000 = write_rules(tmp / "r1000", 1000)
    try:
        for name, prefix, rules in (("1k customers", "s1k", rules_10), ("1M customers", "s1m", rules_10)):
            p, agi, _ = start_router(rules, url, prefix)
            procs.append(p)
            servers[name] = agi
        scen = [("closed c=1", "closed", 1, args.calls), ("closed c=50", "closed", 50, args.calls)]
        res = await compare(servers, {"1k customers": pops["1k"], "1M customers": pops["1M"]}, scen, args.rounds)
        out["customers"] = {"results": res, "table": table(res, "1M customers", "1k customers")}
        servers = {}
        for name, rules in (("11 rules", rules_10), ("1,011 rules", rules_1000)):
            p, agi, _ = start_router(rules, url, "s1k")
            procs.append(p)
            servers[name] = agi
        pop2 = Population(pops["1k"].a, pops["1k"].b, pops["1k"].c)
        res = await compare(servers, {"11 rules": pops["1k"], "1,011 rules": pop2}, scen, args.rounds)
        out["rules"] = {"results": res, "table": table(res, "1,011 rules", "11 rules")}
    finally:
        for p in procs:
            p.terminate()
    return out


async def spread_loop(ports: list[int], pop: Population, concurrency: int, calls: int) -> Run:
    """A closed loop whose workers are spread evenly over several routers (as DNS SRV spreads Asterisk's)."""
    run = Run()
    uid = iter(range(10**9))
    left = [calls]

    async def worker(port: int) -> None:
        while left[0] > 0:
            left[0] -= 1
            await run.place(port, pop.pick(), next(uid), time.perf_counter())

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(ports[i % len(ports)]) for i in range(concurrency)))
    run.seconds = time.perf_counter() - t0
    return run


async def redis_memory(url: str) -> int:
    store = open_store(url, "x", timeout=30)
    try:
        return int((await store.r.info("memory"))["used_memory"])
    finally:
        await store.close()


async def main_routers(args, tmp: Path, url: str) -> dict:
    """Calls/s with 1, 2 and 3 routers on one Redis; Redis memory per customer and per decision."""
    prefix = "bench"
    empty = await redis_memory(url)
    pop = await load_customers(url, prefix, args.customers)
    loaded = await redis_memory(url)
    rules = write_rules(tmp / "rules", 0)
    out: dict = {"customers": args.customers, "calls": args.calls, "concurrency": 60, "routers": {}}
    store = open_store(url, prefix, timeout=30)
    for n in (1, 2, 3):
        procs = [start_router(rules, url, prefix) for _ in range(n)]
        try:
            ports = [agi for _, agi, _ in procs]
            await spread_loop(ports, pop, 6, 300)  # warm-up
            run = await spread_loop(ports, pop, 60, args.calls)
            out["routers"][str(n)] = run.summary()
            print(f"{n} router(s): {run.summary()}", flush=True)
        finally:
            for p, _, _ in procs:
                p.terminate()
            for p, _, _ in procs:
                p.wait(10)
    decisions = await store.r.xlen(store.k.decisions)
    after = await redis_memory(url)
    await store.close()
    out["memory"] = {"empty_bytes": empty, "customers_bytes": loaded - empty, "decisions": decisions,
                     "decisions_bytes": after - loaded,
                     "per_million_customers_mb": round((loaded - empty) / args.customers * 1e6 / 2**20),
                     "per_million_decisions_mb": round((after - loaded) / decisions * 1e6 / 2**20)}
    out["table"] = "\n".join(["| routers | calls/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"] + [
        f"| {n} | {r['cps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} |" for n, r in out["routers"].items()])
    return out


async def main_classic(args, tmp: Path, url: str) -> dict:
    pop = await load_customers(url, "classic", 10000)
    lat = []
    script = ROOT / "bench" / "classic_agi.py"
    for uid in range(args.classic_calls):
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(sys.executable, str(script), url, "14", "classic",
                                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        proc.stdin.write(headers("route", uid, pop.pick()).replace(b"agi_network: yes\n", b""))
        chan = Channel()
        while line := await proc.stdout.readline():
            proc.stdin.write((chan.reply(line.decode().rstrip("\n"))[0] + "\n").encode())
        await proc.wait()
        lat.append(time.perf_counter() - t0)
    lat.sort()
    return {"calls": len(lat), "p50_ms": round(lat[len(lat) // 2] * 1000, 1),
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1), "calls_per_s_sequential":
            round(len(lat) / sum(lat), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--rules", type=int, default=1000, help="generated non-matching rules before the shipped ones")
    ap.add_argument("--calls", type=int, default=3000, help="calls per scenario and server")
    ap.add_argument("--rounds", type=int, default=2, help="alternations per scenario")
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--classic", action="store_true")
    ap.add_argument("--routers", action="store_true", help="calls/s with 1, 2, 3 routers; Redis memory")
    ap.add_argument("--classic-calls", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="small numbers, to check the harness")
    ap.add_argument("--profile", action="store_true", help="also profile the router with py-spy (pip install py-spy)")
    ap.add_argument("--name", help="results file name (default: by mode)")
    args = ap.parse_args()
    if args.quick:
        args.customers, args.calls, args.classic_calls = 2000, 200, 20
    tmp = Path(tempfile.mkdtemp(prefix="callrouter-bench-"))
    redis_proc, url = start_redis(tmp)
    try:
        mode = "scaling" if args.scaling else "classic" if args.classic else "routers" if args.routers else "compare"
        fn = {"scaling": main_scaling, "classic": main_classic, "compare": main_compare, "routers": main_routers}[mode]
        t0 = time.time()
        data = asyncio.run(fn(args, tmp, url))
        data.update(machine=machine(), command=" ".join(sys.argv), seconds=round(time.time() - t0),
                    args=vars(args))
        RESULTS.mkdir(exist_ok=True)
        name = args.name or (mode + ("-quick" if args.quick else ""))
        (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
        print(f"\n{data['machine']}\n$ {data['command']}\n")
        for key in ("table",):
            if key in data:
                print(data[key])
        for part in ("customers", "rules"):
            if isinstance(data.get(part), dict):
                print(f"\n{part}:\n{data[part]['table']}")
        if "decision" in data:
            print(f"\none decision inside the router (identify + decide, one Redis round trip): {data['decision']}")
        if mode in ("classic", "routers"):
            print(json.dumps({k: v for k, v in data.items() if k != "table"}, indent=2))
    finally:
        redis_proc.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
