"""`router demo`: the real router on an in-process Redis, fed a varied stream of calls.

Nothing is mocked except the store's server: the same Store code talks to fakeredis's
in-process server, the calls go through the real FastAGI port, the web API is up.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import fakeredis

from router.asterisk import callsim
from router.config import ConfigError, host_port
from router.core.decide import CompiledRules
from router.core.rulefile import load_rules
from router.directory.customers import import_csv
from router.directory.numbering import import_ranges
from router.server import start
from router.service import Router
from router.state.store import Store

DEMO_START = datetime(2026, 11, 23, 22, 0, tzinfo=ZoneInfo("Europe/Moscow"))
"""A Monday evening in Moscow: early morning in Vladivostok, so the night rule shows."""

# (number, what the call shows); some numbers call twice to show `repeat`
SCRIPT = [
    ("+79035550101", "A customer: straight to her personal manager"),
    ("+79035550102", "A customer whose manager is on the phone: escalated up"),
    ("+79161234500", "a number never seen before: the new-connection queue, priority 10"),
    ("+79161234500", "the same prospect again ten minutes later: a repeat"),
    ("+79035550104", "C customer: self-service"),
    ("+79147000123", "Vladivostok customer before dawn their time: the night duty engineer"),
    ("84951234567", "national format, Moscow landline: known B customer"),
    ("+79035550103", "we called him back and missed him; now he calls us: callback"),
    ("anonymous", "withheld number: still routed"),
    ("+14155550123", "a foreign caller: zone from the number, local time in California"),
]


def data_path(name: str) -> str:
    return str(resources.files("router").joinpath(f"data/{name}"))


async def demo(calls: int, agi: tuple[str, int], http: tuple[str, int], interval: float) -> None:
    store = Store(fakeredis.FakeAsyncRedis(decode_responses=True))
    rules_file = data_path("default.yaml")
    clock_now = [DEMO_START.timestamp()]
    router = Router(CompiledRules(load_rules(rules_file), rules_file), store, rules_path=rules_file,
                    clock=lambda: clock_now[0])
    await import_csv(store, data_path("demo-customers.csv"))
    await import_ranges(store, data_path("numbering-sample.csv"))
    await store.set_device_state("PJSIP/102", "INUSE")  # petrova is on a call
    await store.record_outbound("+79035550103", clock_now[0] - 3600, answered=False)
    running = await start(router, agi, http)
    print(f"callrouter demo — rules {rules_file}\n"
          f"FastAGI agi://{agi[0]}:{running.agi.port}/route   decisions http://{http[0]}:{running.http_port}"
          f"/api/decisions   simulated clock starts {DEMO_START:%a %Y-%m-%d %H:%M %Z}\n")
    rnd = random.Random(7)
    extra = ["+79035550101", "+79035550104", "+79161234500", "+79147000123", "+79990001122"]
    try:
        for n in itertools.count(1):
            if calls and n > calls:
                break
            if n <= len(SCRIPT):
                number, label = SCRIPT[n - 1]
            else:
                number, label = rnd.choice(extra), "more traffic"
                await asyncio.sleep(interval)
            await callsim.call(running.agi.port, number, uid=n, dnid="88006008208", host=agi[0])
            d = router.log.recent[-1]
            print(_format(d, label), flush=True)
            clock_now[0] += 600
    finally:
        await running.stop()
        await store.close()


def _format(e: dict, label: str) -> str:
    c = e.get("caller", {})
    chain = " → ".join(f"{s['type']} {s['dest']}" for s in e["steps"])
    local = c.get("local_time", "")[11:16]
    profile = f"{c.get('kind', ''):<9} {c.get('abc') or '-'} {c.get('manager') or '-':<8} {local} {c.get('tz', '')}"
    return (f"{c.get('number') or 'anonymous':<14} {profile:<44} → {chain}   [{e['rule']}, "
            f"{e['latency_ms']:.1f} ms]\n{'':15}{label}. Why: {'; '.join(e['reasons'][1:]) or e['reasons'][0]}")


def run_demo(args) -> int:
    try:
        agi, http = host_port(args.agi, "--agi"), host_port(args.http, "--http")
    except ConfigError as e:
        print(f"router demo: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(demo(args.calls, agi, http, args.interval))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        print(f"router demo: cannot listen ({e}); pass --agi/--http with free ports", file=sys.stderr)
        return 1
    return 0
