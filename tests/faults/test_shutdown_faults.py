"""SIGTERM: calls under way finish, nothing pending is lost — not even with Redis down."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time

from router.asterisk.callsim import Channel, headers
from router.state.keys import Keys

HELD = 30
OUTAGE_CALLS = 200


async def _held_call(port: int, uid: int, go: asyncio.Event, first: asyncio.Queue) -> Channel:
    """A call whose Asterisk side answers the router's first command only once `go` is set."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chan = Channel()
    writer.write(headers("route", uid, f"+7916555{uid:04d}"))
    async with asyncio.timeout(60):
        line = await reader.readline()
        await first.put(uid)
        await go.wait()
        while line:
            writer.write("".join(f"{o}\n" for o in chan.reply(line.decode().rstrip("\n"))).encode())
            line = await reader.readline()
    writer.close()
    return chan


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return False
    except OSError:
        return True


def _decision_ids(redis_server, prefix: str) -> list[str]:
    return [json.loads(f["d"])["call"]["uniqueid"] for _, f in redis_server.client().xrange(Keys(prefix).decisions)]


def test_sigterm_lets_calls_under_way_finish_and_logs_their_decisions(redis_server, router_process, prefix):
    r = router_process(store=redis_server.url)

    async def scenario() -> list[Channel]:
        go, first = asyncio.Event(), asyncio.Queue()
        calls = [asyncio.create_task(_held_call(r.agi_port, uid, go, first)) for uid in range(1, HELD + 1)]
        for _ in range(HELD):
            await first.get()  # every call is routed and waits on its first SET VARIABLE
        r.signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not await asyncio.to_thread(_refuses_connections, r.agi_port):
            assert time.monotonic() < deadline, "still accepting calls after SIGTERM"
        go.set()
        return await asyncio.gather(*calls)

    channels = asyncio.run(scenario())
    assert r.wait(30) == 0
    complete = [c for c in channels if c.variables.get("ROUTE_COUNT")
                and all(f"ROUTE_{n}_TIMEOUT" in c.variables for n in range(1, int(c.variables["ROUTE_COUNT"]) + 1))]
    assert len(complete) == HELD, f"{HELD - len(complete)} of {HELD} calls were cut"
    logged = set(_decision_ids(redis_server, prefix))
    assert {f"1795337767.{uid}" for uid in range(1, HELD + 1)} <= logged


def test_redis_down_sigterm_restart_redis_back_loses_no_decision(redis_server, router_process, prefix):
    r = router_process(store=redis_server.url)
    redis_server.kill()

    async def outage_calls():
        return await asyncio.gather(*(r.acall(f"+7916777{uid:04d}", uid=uid, timeout=30)
                                      for uid in range(1, OUTAGE_CALLS + 1)))

    results = asyncio.run(outage_calls())
    assert all(res.variables["ROUTE_RULE"] == "fallback" for res in results)
    r.signal(signal.SIGTERM)
    assert r.wait(30) == 0
    spooled = r.spool.read_text().splitlines()
    assert len(spooled) == OUTAGE_CALLS
    r.start()  # Redis still down: the spool waits in memory
    assert r.http("/healthz")[1]["log_pending"] == OUTAGE_CALLS
    redis_server.start()
    r.wait_for_log("everything in it is in the store now", seconds=30)
    assert not r.spool.exists()
    logged = _decision_ids(redis_server, prefix)
    expected = {f"1795337767.{uid}" for uid in range(1, OUTAGE_CALLS + 1)}
    assert expected <= set(logged), f"{len(expected - set(logged))} decisions lost"
    client = redis_server.client()
    no_history = [uid for uid in range(1, OUTAGE_CALLS + 1)
                  if client.zscore(Keys(prefix).newest(f"+7916777{uid:04d}"), "in") is None]
    assert no_history == [], f"{len(no_history)} calls missing from the numbers' history"
