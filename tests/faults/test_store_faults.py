"""The store never fails a call it could serve: bursts on healthy Redis, and Redis restarts."""

from __future__ import annotations

import asyncio
import time

import pytest

from router.asterisk.callsim import CallResult
from router.state.keys import Keys

BURST = 1000


async def _calls(r, uids: range, timeout: float = 60) -> list[CallResult]:
    return await asyncio.gather(*(r.acall(f"+7916{uid:07d}", uid=uid, timeout=timeout) for uid in uids))


def _fallbacks(results: list[CallResult]) -> int:
    return sum(res.variables.get("ROUTE_RULE") == "fallback" for res in results)


def test_a_burst_of_1000_simultaneous_calls_on_healthy_redis_gets_no_fallback(redis_server, router_process):
    r = router_process(store=redis_server.url)
    assert _fallbacks(asyncio.run(_calls(r, range(1, 11)))) == 0
    baseline = r.fds()
    results = asyncio.run(_calls(r, range(100, 100 + BURST)))
    assert len(results) == BURST and all(res.variables.get("ROUTE_COUNT") for res in results)
    assert _fallbacks(results) == 0
    status, health = r.http("/healthz")
    assert status == 200 and health["fallbacks"] == 0 and health["decisions"] == BURST + 10
    clients = redis_server.client().client_list()
    assert len(clients) <= 8, f"the router holds {len(clients) - 1} Redis connections for one burst"
    deadline = time.monotonic() + 10
    while r.fds() > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # sessions close as the last replies are read: wait for the fds to come back
    assert r.fds() <= baseline + 2


def test_the_first_calls_after_a_redis_restart_are_routed_normally(redis_server, router_process):
    r = router_process(store=redis_server.url)
    warm = asyncio.run(_calls(r, range(1, 51)))  # connections in use and idle when Redis goes away
    assert _fallbacks(warm) == 0
    redis_server.kill()
    redis_server.start()
    first = r.call("+79161230001", uid=1001)
    assert first.variables["ROUTE_RULE"] != "fallback", first.variables
    after = asyncio.run(_calls(r, range(1002, 1092)))
    assert _fallbacks(after) == 0
    assert r.http("/healthz")[1]["store"] == "up"


def test_calls_during_an_outage_fall_back_fast_and_recover_when_redis_returns(redis_server, router_process):
    r = router_process(store=redis_server.url)
    assert _fallbacks(asyncio.run(_calls(r, range(1, 11)))) == 0
    redis_server.kill()
    down = asyncio.run(_calls(r, range(20, 40)))
    assert _fallbacks(down) == 20
    assert max(res.seconds for res in down) < 2.0
    assert r.http("/healthz")[0] == 503
    redis_server.start()
    assert _fallbacks(asyncio.run(_calls(r, range(40, 60)))) == 0


def _last_inbound(redis_server, prefix: str, number: str) -> float:
    """What the next call is classified by: the newest inbound time the store holds for the number."""
    client = redis_server.client()
    k = Keys(prefix)
    kept = [client.hget(k.state(number), "in"), client.zscore(k.newest(number), "in")]
    return max(float(t) for t in kept if t is not None)


def test_the_outage_backlog_never_moves_a_numbers_history_backwards(redis_server, router_process, prefix):
    r = router_process(store=redis_server.url)
    number = "+79161234588"
    redis_server.kill()
    during = r.call(number, uid=1)
    assert during.variables["ROUTE_RULE"] == "fallback"
    r.wait_for_log("retrying in 0.8 s")  # the backlog waits at least that long before its next try
    redis_server.start()
    after = r.call(number, uid=2)
    assert after.variables["ROUTE_RULE"] != "fallback"
    deadline = time.monotonic() + 30
    while r.http("/healthz")[1].get("log_pending"):
        assert time.monotonic() < deadline, "the backlog was never written"
        time.sleep(0.1)
    at = {d["call"]["uniqueid"]: d["at"] for d in r.http("/api/decisions?limit=5")[1]}
    assert at["1795337767.2"] > at["1795337767.1"]
    assert _last_inbound(redis_server, prefix, number) == pytest.approx(at["1795337767.2"], abs=0.01)
