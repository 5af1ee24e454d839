"""Three `router serve` processes on one Redis, each listening to the same Asterisk (one replayed
AMI stream each): every outcome, follow-up, SMS and escalation happens once, and each live
stream shows every instance's decisions."""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp
import orjson
import pytest

from router.asterisk.callsim import call
from router.state.factory import open_store
from tests.asterisk.ami_server import AMIServer
from tests.helpers import ROUTER_CMD, RULES_TEXT, SIM_SECRET, free_port, router_env, stop_processes
from tests.replicated.stream import missed_call

ROUTERS = 3
DIRECTOR_PHONE = "+79031112233"
RULES = RULES_TEXT + """
followup:
  short_abandons: true   # the recording replays at one instant: its caller rang 0 s
  deadline: 30m
  sms_every: 10m
  sms_text: "We missed your call and will call you back"
  owner: duty
  escalate:
    - {after: 3d, or_count: 2, to: director, sms_to: "+79031112233"}
notify:
  sms:
    method: GET
    url: "http://127.0.0.1:{port}/sms"
    query: {to: "{number}", text: "{text}"}
"""


@pytest.fixture
async def routers(redis_url, prefix, gateway, tmp_path):
    """Three routers, each with an AMI simulator of its own that will replay the same events."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("{port}", str(gateway.port)))
    amis, procs, ports = [], [], []
    try:
        for i in range(ROUTERS):
            ami = AMIServer(secret=SIM_SECRET)
            await ami.start()
            amis.append(ami)
            agi, http = free_port(), free_port()
            ports.append((agi, http))
            procs.append(subprocess.Popen(
                [*ROUTER_CMD, "serve", "--rules", str(rules), "--agi", f"127.0.0.1:{agi}",
                 "--http", f"127.0.0.1:{http}"],
                env=router_env(ROUTER_STORE=redis_url, ROUTER_PREFIX=prefix, ROUTER_INSTANCE=f"router-{i + 1}",
                               ROUTER_AMI=f"ami://callrouter@127.0.0.1:{ami.port}", ROUTER_AMI_SECRET=SIM_SECRET),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        async with aiohttp.ClientSession() as http:
            for (_, port), proc in zip(ports, procs, strict=True):
                await _until_up(http, port, proc)
        await asyncio.wait_for(asyncio.gather(*(a.logged_in.wait() for a in amis)), 20)
        yield amis, ports
    finally:
        stop_processes(procs)
        for a in amis:
            await a.close()


async def test_three_routers_on_one_ami_stream_do_everything_once(routers, redis_url, prefix, gateway):
    amis, ports = routers
    store = open_store(redis_url, prefix)
    try:
        async with aiohttp.ClientSession() as http:
            names = [(await (await http.get(f"http://127.0.0.1:{p}/healthz")).json())["instance"] for _, p in ports]
            assert names == ["router-1", "router-2", "router-3"]
            opened = asyncio.Event()
            live = asyncio.create_task(_events(http, ports[0][1], "decision", ROUTERS, opened))
            await asyncio.wait_for(opened.wait(), 10)
            decided = [(await call(agi, f"+7903555{i:04d}", uid=i + 1)).variables["ROUTE_DECISION"]
                       for i, (agi, _) in enumerate(ports)]
            seen = await asyncio.wait_for(live, 15)
            assert sorted(e["decision"]["id"] for e in seen) == sorted(decided)
            assert {e["decision"]["instance"] for e in seen} == set(names)
        calls = [missed_call(n) for n in range(4)] + [missed_call(4, caller=0)]  # 0 misses twice: escalation
        numbers = sorted({number for number, _ in calls})
        for _number, events in calls:
            await asyncio.gather(*(a.push(events) for a in amis))  # the same Asterisk, heard three times
        async with asyncio.timeout(30):
            while len(gateway.sms) < len(numbers) + 1 or len(await store.tasks("open")) < len(numbers):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # not timing: a doubled SMS or task would arrive within this, then fail
        outcomes = [orjson.loads(f["o"])["number"] for _, f in await store.r.xrange(store.k.outcomes)]
        assert sorted(outcomes) == sorted(n for n, _ in calls)
        tasks = await store.tasks("open")
        assert sorted(t["number"] for t in tasks) == numbers
        twice = next(t for t in tasks if t["number"] == calls[0][0])
        assert (twice["count"], twice["owner"]) == ("2", "director")
        sent_to = sorted(s["to"] for s in gateway.sms)
        assert sent_to == sorted([*numbers, DIRECTOR_PHONE])
    finally:
        await store.close()


async def _until_up(http: aiohttp.ClientSession, port: int, proc: subprocess.Popen) -> None:
    async with asyncio.timeout(20):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"router exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def _events(http: aiohttp.ClientSession, port: int, kind: str, n: int, opened: asyncio.Event) -> list[dict]:
    """The first `n` events of one kind on a router's live stream."""
    got = []
    async with http.get(f"http://127.0.0.1:{port}/api/decisions/stream") as r:
        opened.set()  # headers come after the router has subscribed this stream
        event = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == kind:
                got.append(orjson.loads(line[6:]))
                if len(got) == n:
                    return got
    return got
