#!/usr/bin/env python3
"""Benchmark on a real Asterisk: no routing, bare one-command FastAGI floors, and the router.

    python bench/asterisk.py                          # 3 rounds x 5 modes x 15 s, 10 calls in flight
    python bench/asterisk.py --seconds 3 --rounds 1   # checks the harness in half a minute
    python bench/asterisk.py --baseline ../old        # also a router of another checkout, alternating with this one

One private Asterisk (the live suite's: dialplans/ and asterisk/ as shipped, see tests/live/)
serves every mode, alternating in one run so that machine drift cancels. A call is an AMI
Originate of a Local channel whose ;2 half is the inbound caller (from one of 2,000 numbers, in
turn); it ends in a one-line IVR
(Answer, Hangup), reached
- none:   directly (Goto the IVR);
- floor:  after AGI() to a bare FastAGI server that sends one SET VARIABLE and closes;
- floor-contract: the same server sending one EXEC MSet of the variables the router sets for
          this call (the ROUTE_* contract), then Goto the IVR: the least any FastAGI router that
          keeps the contract costs Asterisk;
- floor-redis: the same, after the Redis round trip of the FastAGI-only floor (bench/floor.py: a
          hash read, a sorted-set read, one write, one stream append, pipelined): the least a
          router that keeps state per caller costs;
- router: through dialplans/callrouter.conf, `router serve` deciding (Redis round trip) and its
          AMI listener following the call (the outcome written to Redis).
- baseline (with --baseline DIR): the same through `router serve` of the checkout in DIR (another
          release), its calls sent to it by CALLROUTER_AGI, in the same rounds: what a release
          changed, measured with the machine's drift cancelled. Both routers listen on AMI in
          every mode and follow every call, so each pays the same for the other's.
`router serve` and its AMI listener run in every mode (in none and the floors it only listens). The
load generator logs in as the router's own AMI user, so the events it counts per call are the
ones the router is sent. CPU per call is read from /proc for Asterisk, the router, the floor and
Redis, and the load generator's own; the machine's busy, idle and stolen time from /proc/stat
says where the two cores went (what no process above was charged with is kernel work and the rest
of the machine). Results: Markdown on stdout and bench/results/asterisk.json; each goal over all rounds and
round by round (a round runs the modes back to back: its spread is the machine's noise).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from floor import round_trip  # noqa: E402
from run import free_port, machine, start_redis, wait_port  # noqa: E402

from router.state.keys import Keys  # noqa: E402
from tests.conftest import router_env, stop_processes  # noqa: E402
from tests.live.conftest import AMI_SECRET, PREFIX, AMIClient, start_asterisk  # noqa: E402
from tests.live.stack import DIAL_SECRET  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODES = ("none", "floor", "floor-contract", "floor-redis", "router")
ROUTED = {"router": "router", "baseline": "baseline"}
"""The modes a router routes, and the process (of `pids`) that does."""
TICK = os.sysconf("SC_CLK_TCK")
RULES = """version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  ivr: {ivr: bench-ivr}
rules:
  - name: everyone
    route: [ivr]
fallback: [ivr]
"""
DIALPLAN = """
[bench-ivr]
exten => s,1,Answer()
 same => n,Hangup()

[bench-none]
exten => _X.,1,Goto(bench-ivr,s,1)

[bench-floor]
exten => _X.,1,AGI(agi://127.0.0.1:{floor}/floor)
 same => n,Goto(bench-ivr,s,1)

[bench-floor-contract]
exten => _X.,1,AGI(agi://127.0.0.1:{floor}/contract)
 same => n,Goto(bench-ivr,s,1)

[bench-floor-redis]
exten => _X.,1,AGI(agi://127.0.0.1:{floor}/redis)
 same => n,Goto(bench-ivr,s,1)

[bench-baseline]
exten => _X.,1,Set(CALLROUTER_AGI=agi://127.0.0.1:{baseline}/route)
 same => n,Goto(callrouter-inbound,${{EXTEN}},1)
"""
CONTEXT = {"none": "bench-none", "floor": "bench-floor", "floor-contract": "bench-floor-contract",
           "floor-redis": "bench-floor-redis",
           "router": "callrouter-inbound", "baseline": "bench-baseline"}
"""Each mode's context starts with its own first step, as a trunk's context would: the router's calls enter
the shipped [callrouter-inbound] directly, the floors' their AGI()."""
CONTRACT = (b'EXEC MSet "ROUTE_RULE=everyone,ROUTE_DECISION=019ab3c2d1e0f00001a2b3c,ROUTE_CALLER_KIND=repeat,'
            b'ROUTE_TZ=Europe/Moscow,ROUTE_PRIORITY=0,ROUTE_COUNT=1,ROUTE_1_TYPE=ivr,ROUTE_1_DEST=bench-ivr,'
            b'ROUTE_1_TIMEOUT=0,CDR(userfield)=019ab3c2d1e0f00001a2b3c"\n')
"""What the router sends for a bench call (a repeat caller of no class routed to the IVR), as one command;
ROUTE_RULE first, so that the router's AMI user is not sent it as the router's answer (it only listens here)."""
CALLERS = 2000
OUTCOMES = Keys("bench").outcomes
"""The router's outcomes stream (its key prefix is `bench`)."""
BASELINE_OUTCOMES = Keys("base").outcomes
"""The baseline router's (prefix `base`)."""
"""Distinct caller numbers, called in turn: numbers come back as they do in real traffic."""


async def floor_server(port: int, url: str) -> None:
    """The least a FastAGI router can do: read the header, set one variable, close (or, for the
    contract floors, set the contract's variables in one command; for `redis`, after one round trip)."""
    r = aioredis.Redis.from_url(url, decode_responses=True)

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            script, number = b"", ""
            while (line := await reader.readline()) not in (b"\n", b""):
                if line.startswith(b"agi_network_script: "):
                    script = line[20:].strip()
                elif line.startswith(b"agi_callerid: "):
                    number = line[14:].strip().decode()
            if script == b"redis":
                await round_trip(r, "floor", number)
            writer.write(b'SET VARIABLE FLOOR "1"\n' if script == b"floor" else CONTRACT)
            await reader.readline()
        finally:
            writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    await server.serve_forever()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_seconds() -> dict[str, float]:
    """The whole machine's CPU time so far (all cores, /proc/stat): busy, idle, and stolen by the host."""
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in Path("/proc/stat").read_text()
                                                              .split("\n", 1)[0].split()[1:9])
    return {"busy": (user + nice + system + irq + softirq) / TICK, "idle": (idle + iowait) / TICK,
            "steal": steal / TICK}


class Generator:
    """Keeps `inflight` calls going through one mode's context; a call ends with its caller leg's Hangup."""

    def __init__(self, ami: AMIClient, dialler: AMIClient) -> None:
        self.ami = ami
        """Logged in as the router's listening user: the events it is sent are counted."""
        self.dialler = dialler
        """Logged in as the originate-only user (the listener's user may not place calls)."""
        self.serial = 0

    async def run(self, mode: str, seconds: float, inflight: int) -> dict:
        ami, context = self.ami, CONTEXT[mode]
        ami.events.clear()
        done = 0
        started = 0
        stop_at = time.monotonic() + seconds
        seen = 0

        def finished() -> int:
            nonlocal seen, done
            for e in ami.events[seen:]:
                if e.get("Event") == "Hangup" and e.get("Channel", "").startswith("Local/") and \
                        f"@{context}-" in e["Channel"] and e["Channel"].endswith(";2"):
                    done += 1
            seen = len(ami.events)
            return done

        t0 = time.monotonic()
        while True:
            now = time.monotonic()
            if now < stop_at:
                while started - finished() < inflight:
                    self.serial += 1
                    started += 1
                    await self.dialler.action("Originate", Channel=f"Local/2001@{context}",
                                     Application="NoOp", CallerID=f"<+7999{self.serial % CALLERS:07d}>",
                                     Timeout="10000", Async="true")
            elif finished() >= started:
                break
            elif now > stop_at + 20:
                print(f"  {mode}: {started - done} calls did not end", file=sys.stderr)
                break
            async with ami._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ami._changed.wait(), 0.5)
        return {"calls": done, "seconds": time.monotonic() - t0, "events": len(ami.events)}


async def bench(args) -> dict:
    if PREFIX is None:
        raise SystemExit("asterisk is not on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="callrouter-bench-"))
    procs: list[subprocess.Popen] = []
    ast = None
    try:
        redis, url = start_redis(tmp)
        procs.append(redis)
        floor_port, agi_port, baseline_port = free_port(), free_port(), free_port()
        modes = MODES + (("baseline",) if args.baseline else ())
        floor = subprocess.Popen([sys.executable, __file__, "--floor-server", str(floor_port), url],
                                 stdout=subprocess.PIPE, text=True)
        procs.append(floor)
        assert floor.stdout is not None and floor.stdout.readline().strip() == "ready"
        ast = start_asterisk(tmp / "asterisk", f"agi://127.0.0.1:{agi_port}/route",
                             extra_dialplan=DIALPLAN.format(floor=floor_port, baseline=baseline_port))
        (tmp / "rules.yaml").write_text(RULES)
        router = start_router(ROOT, tmp, url, "bench", agi_port, ast.ami_port)
        procs.append(router)
        pids = {"asterisk": ast.proc.pid, "router": router.pid, "floor": floor.pid, "redis": redis.pid}
        if args.baseline:
            baseline = start_router(args.baseline.resolve(), tmp, url, "base", baseline_port, ast.ami_port)
            procs.append(baseline)
            pids["baseline"] = baseline.pid
        deadline = time.monotonic() + 20
        while ast.cli("manager show connected").count("callrouter") < len(modes) - len(MODES) + 1:
            if time.monotonic() > deadline:
                raise SystemExit("the router did not log in to AMI")
            await asyncio.sleep(0.1)
        ami, dialler = AMIClient(), AMIClient()
        await ami.connect(ast.ami_port, "callrouter", AMI_SECRET)
        await dialler.connect(ast.ami_port, "callrouter-dial", DIAL_SECRET)
        gen = Generator(ami, dialler)
        store = aioredis.from_url(url)
        routed = 0
        for mode in modes:  # warm-up: every path once
            res = await gen.run(mode, 1.0, args.inflight)
            if mode in ROUTED:
                routed += res["calls"]
                await outcomes_written(store, routed, modes)
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for r in range(args.rounds):
            order = modes if r % 2 == 0 else tuple(reversed(modes))
            for mode in order:
                before = {k: cpu_seconds(p) for k, p in pids.items()}
                before["generator"], whole = time.process_time(), machine_seconds()
                spy = profile(pids[ROUTED[mode]], mode, r) if args.profile and mode in ROUTED else None
                res = await gen.run(mode, args.seconds, args.inflight)
                if mode in ROUTED:
                    # the router's work for these calls ends when their outcomes are written: charged to them
                    routed += res["calls"]
                    res["outcomes_behind"] = await outcomes_written(store, routed, modes)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(30)
                res["cpu"] = {k: cpu_seconds(p) - before[k] for k, p in pids.items()}
                if mode == "baseline":  # "router" is the router that routed the mode's calls
                    res["cpu"]["router"], res["cpu"]["baseline"] = res["cpu"]["baseline"], res["cpu"]["router"]
                res["cpu"]["generator"] = time.process_time() - before["generator"]
                res["machine"] = {k: v - whole[k] for k, v in machine_seconds().items()}
                runs[mode].append(res)
                print(f"  round {r + 1} {mode}: {res['calls'] / res['seconds']:.0f} calls/s", file=sys.stderr)
        await ami.close()
        await dialler.close()
        await store.aclose()
        return summarise(runs, args)
    finally:
        stop_processes(procs)
        if ast is not None:
            ast.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def outcomes_written(store: aioredis.Redis, calls: int, modes: tuple[str, ...], seconds: float = 60.0) -> int:
    """Until each router has written the outcome of every routed call so far (one each: the IVR answers; a
    router follows the calls the other routed too); how many the router had still to write when asked."""
    deadline = time.monotonic() + seconds
    behind = calls - await store.xlen(OUTCOMES)
    for stream in (OUTCOMES, BASELINE_OUTCOMES) if "baseline" in modes else (OUTCOMES,):
        while (written := await store.xlen(stream)) < calls:
            if time.monotonic() > deadline:
                raise SystemExit(f"a router wrote {written} outcomes of {calls} calls within {seconds:.0f} s")
            await asyncio.sleep(0.05)
    return behind


def start_router(checkout: Path, tmp: Path, url: str, prefix: str, agi_port: int, ami_port: int) -> subprocess.Popen:
    """`router serve` of the checkout, listening on AMI as the shipped `callrouter` user; once it takes calls."""
    log = open(tmp / f"router-{prefix}.log", "wb")  # noqa: SIM115 - the process keeps it
    router = subprocess.Popen([sys.executable, "-m", "router", "serve", "--rules", str(tmp / "rules.yaml"),
                               "--store", url, "--prefix", prefix, "--agi", f"127.0.0.1:{agi_port}",
                               "--http", f"127.0.0.1:{free_port()}", "--ami", f"ami://callrouter@127.0.0.1:{ami_port}"],
                              env=router_env(ROUTER_AMI_SECRET=AMI_SECRET, PYTHONPATH=str(checkout)),
                              stdout=subprocess.DEVNULL, stderr=log, cwd=checkout)
    wait_port(agi_port, router)
    return router


def profile(pid: int, mode: str, round_: int) -> subprocess.Popen:
    """py-spy on the router for one round: a flame graph input (folded stacks) per round."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"profile-asterisk-{mode}-{round_ + 1}.txt"
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise(runs: dict[str, list[dict]], args) -> dict:
    out: dict = {"machine": machine(), "load": os.getloadavg(), "inflight": args.inflight,
                 "seconds": args.seconds, "rounds": args.rounds, "modes": {}}
    for mode, rs in runs.items():
        out["modes"][mode] = per_call(rs)
        if any("outcomes_behind" in r for r in rs):
            out["modes"][mode]["outcomes_behind"] = max(r["outcomes_behind"] for r in rs)
    out["goals"] = goals(out["modes"])
    # the modes of one round ran minutes apart at most: the spread of its goals is the run's noise
    out["goals_by_round"] = [goals({mode: per_call([rs[r]]) for mode, rs in runs.items()})
                             for r in range(args.rounds)]
    return out


def per_call(rs: list[dict]) -> dict:
    """One mode's figures over the given rounds: calls/s, CPU and AMI events per call."""
    calls = sum(r["calls"] for r in rs)
    secs = sum(r["seconds"] for r in rs)
    return {"calls": calls, "calls_per_s": calls / secs,
            "events_per_call": sum(r["events"] for r in rs) / calls,
            "cpu_ms_per_call": {k: sum(r["cpu"][k] for r in rs) / calls * 1000 for k in rs[0]["cpu"]},
            "machine_ms_per_call": {k: sum(r["machine"][k] for r in rs) / calls * 1000 for k in rs[0]["machine"]}}


def goals(m: dict) -> dict[str, float | None]:
    """The issue's goals (and the same ratios against the other floors) from the modes' figures."""
    base = m["none"]["cpu_ms_per_call"]["asterisk"]
    floor_added = m["floor"]["cpu_ms_per_call"]["asterisk"] - base
    contract_added = m["floor-contract"]["cpu_ms_per_call"]["asterisk"] - base
    redis_added = m["floor-redis"]["cpu_ms_per_call"]["asterisk"] - base
    router_added = m["router"]["cpu_ms_per_call"]["asterisk"] - base
    return {
        "routed calls/s / floor calls/s (>= 0.8)": m["router"]["calls_per_s"] / m["floor"]["calls_per_s"],
        "Asterisk CPU added, router / floor (<= 2)": router_added / floor_added if floor_added > 0 else None,
        "routed calls/s / contract floor calls/s": m["router"]["calls_per_s"] / m["floor-contract"]["calls_per_s"],
        "Asterisk CPU added, router / contract floor": router_added / contract_added if contract_added > 0 else None,
        "routed calls/s / Redis floor calls/s": m["router"]["calls_per_s"] / m["floor-redis"]["calls_per_s"],
        "Asterisk CPU added, router / Redis floor": router_added / redis_added if redis_added > 0 else None,
        "router CPU per routed call / Redis floor server's (with Redis)":
            with_redis(m, "router", "router") / with_redis(m, "floor-redis", "floor"),
        "router CPU per routed call incl. AMI, ms (<= 1)": m["router"]["cpu_ms_per_call"]["router"],
        **budget(m),
        "time stolen by the host, most of any mode, ms/call (a round with much is noise)":
            max(x["machine_ms_per_call"]["steal"] for x in m.values()),
        "AMI events per call, routed / unrouted (<= 1.3)": m["router"]["events_per_call"] /
        m["none"]["events_per_call"],
        **(against_baseline(m) if "baseline" in m else {}),
    }


def against_baseline(m: dict) -> dict[str, float]:
    """This checkout's router against the baseline's, measured in the same rounds."""
    this, base = m["router"], m["baseline"]
    return {
        "this router's CPU per routed call incl. AMI / the baseline's": this["cpu_ms_per_call"]["router"] /
        base["cpu_ms_per_call"]["router"],
        "this router's CPU per routed call incl. AMI, ms, minus the baseline's":
            this["cpu_ms_per_call"]["router"] - base["cpu_ms_per_call"]["router"],
        "routed calls/s, this router / the baseline": this["calls_per_s"] / base["calls_per_s"],
        "Asterisk CPU per routed call, this router / the baseline": this["cpu_ms_per_call"]["asterisk"] /
        base["cpu_ms_per_call"]["asterisk"],
    }


def with_redis(m: dict, mode: str, server: str) -> float:
    """A mode's server CPU per call, Redis's included."""
    cpu = m[mode]["cpu_ms_per_call"]
    return cpu[server] + cpu["redis"]


def budget(m: dict) -> dict[str, float]:
    """What a router may spend on its own for 0.8 x the bare floor's calls/s, against what it spends.

    A call's share of the machine is cores / calls per second. Taking everything but the server's
    and Redis's CPU at the Redis floor's level (Asterisk woken after a round trip, the generator, the
    listener: the least any router that keeps state per caller brings about), what is left of the
    share 0.8 x allows is the budget of the server and Redis together."""
    cores = os.cpu_count() or 1

    def share(mode: str) -> float:
        return cores * 1000 / m[mode]["calls_per_s"]

    floor_own = with_redis(m, "floor-redis", "floor")
    return {
        "server + Redis CPU a router may spend for 0.8 x the bare floor's calls/s, ms":
            share("floor") / 0.8 - (share("floor-redis") - floor_own),
        "the Redis floor's server + Redis, ms": floor_own,
        "the router's routing + Redis (its listener's share at the Redis floor taken off), ms":
            with_redis(m, "router", "router") - m["floor-redis"]["cpu_ms_per_call"]["router"],
    }


def table(out: dict) -> str:
    m = out["modes"]
    rows = [("calls/s, {} in flight".format(out["inflight"]), "{:.0f}", lambda x: x["calls_per_s"]),
            ("Asterisk CPU ms/call", "{:.2f}", lambda x: x["cpu_ms_per_call"]["asterisk"]),
            ("router CPU ms/call (its AMI listener in every mode; for the baseline, the baseline's)", "{:.2f}",
             lambda x: x["cpu_ms_per_call"]["router"]),
            ("floor server CPU ms/call", "{:.2f}", lambda x: x["cpu_ms_per_call"]["floor"]),
            ("Redis CPU ms/call", "{:.2f}", lambda x: x["cpu_ms_per_call"]["redis"]),
            ("load generator CPU ms/call", "{:.2f}", lambda x: x["cpu_ms_per_call"]["generator"]),
            ("the machine's busy CPU ms/call (both cores)", "{:.2f}", lambda x: x["machine_ms_per_call"]["busy"]),
            ("idle ms/call (both cores)", "{:.2f}", lambda x: x["machine_ms_per_call"]["idle"]),
            ("stolen by the host ms/call", "{:.2f}", lambda x: x["machine_ms_per_call"]["steal"]),
            ("AMI events per call to the router's user", "{:.1f}", lambda x: x["events_per_call"]),
            ("calls measured", "{}", lambda x: x["calls"])]
    heads = {"none": "no routing (Goto the IVR)", "floor": "bare one-command FastAGI, then Goto",
             "floor-contract": "one-command FastAGI setting the contract's variables, then Goto",
             "floor-redis": "the same after one Redis round trip", "router": "callrouter",
             "baseline": "callrouter of the baseline checkout"}
    lines = ["| per call | " + " | ".join(heads[k] for k in m) + " |", "|---|" + "---|" * len(m)]
    for label, fmt, get in rows:
        lines.append(f"| {label} | " + " | ".join(fmt.format(get(m[k])) for k in m) + " |")
    behind = m["router"].get("outcomes_behind")
    if behind is not None:
        lines.append(f"\nOutcomes the router had still to write when a round's last call ended (most of any "
                     f"round; their writing is charged to the router's calls): {behind}")
    lines += ["", "| goal | all rounds | each round |", "|---|---|---|"]
    for k, v in out["goals"].items():
        each = [g[k] for g in out["goals_by_round"]]
        lines.append(f"| {k} | {_num(v)} | {', '.join(_num(x) for x in each)} |")
    return "\n".join(lines)


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds per mode and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inflight", type=int, default=10)
    ap.add_argument("--profile", action="store_true",
                    help="py-spy the router in its rounds -> results/profile-asterisk-router-N.txt (skews its CPU)")
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="also route through `router serve` of the checkout in DIR (git worktree add DIR REF)")
    ap.add_argument("--floor-server", nargs=2, metavar=("PORT", "REDIS_URL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_server:
        asyncio.run(floor_server(int(args.floor_server[0]), args.floor_server[1]))
        return
    out = asyncio.run(bench(args))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "asterisk.json").write_text(json.dumps(out, indent=2))
    print(f"Machine: {out['machine']}; load average at the end {out['load'][0]:.1f}\n")
    print(table(out))


if __name__ == "__main__":
    main()
