"""SIGKILL under load: a crash loses at most what was in flight in its last 100 ms.

The router is killed while calls arrive at about 100 a second and others are still ringing or
talking; calls go on ending while it is down. When it is back, the calls it was following (its
AMI journal) are finished from what it knew and what Asterisk says is still alive.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time

from router.asterisk.amisim import AMIServer
from router.asterisk.pbxsim import Attempt, SimulatedPBX
from router.state.keys import Keys

RATE = 100
"""Calls a second."""
BEFORE_KILL = 2.0
DOWN = 1.0
IN_FLIGHT = 0.1
"""What a crash may lose: the calls that began in its last 100 ms."""


def _logged(redis_server, prefix: str) -> tuple[set[str], set[str]]:
    """(decision ids in the log, decision ids of the outcomes written)."""
    client = redis_server.client()
    k = Keys(prefix)
    decisions = {json.loads(f["d"])["id"] for _, f in client.xrange(k.decisions)}
    outcomes = {json.loads(f["o"]).get("decision") for _, f in client.xrange(k.outcomes)}
    return decisions, outcomes


def test_sigkill_under_load_loses_at_most_the_last_100_ms(redis_server, router_process, prefix):
    secret = "crash-s3cret"
    placed: list[tuple[float, str]] = []  # (when the call was routed, its decision id)

    async def scenario() -> tuple[float, object]:
        ami = AMIServer(secret=secret)
        await ami.start()
        r = await asyncio.to_thread(router_process, store=redis_server.url, env={"ROUTER_INSTANCE": "crashing"},
                                    args=("--ami", f"ami://{ami.username}:{secret}@127.0.0.1:{ami.port}"))
        await asyncio.wait_for(ami.logged_in.wait(), 20)
        pbx = SimulatedPBX(ami, speed=1.0)
        plays = []
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < BEFORE_KILL:
            n += 1
            res = await r.acall(f"+7916400{n:04d}", uid=n, timeout=10)
            placed.append((time.monotonic(), res.variables["ROUTE_DECISION"]))
            plays.append(asyncio.create_task(pbx.inbound(f"+7916400{n:04d}", res.variables["ROUTE_DECISION"], [
                Attempt("dial", "PJSIP/101", "answer", ring=0.3, talk=0.6 + (n % 10) / 10)])))
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
        r.signal(signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.to_thread(r.proc.wait)
        ami.logged_in.clear()
        await asyncio.sleep(DOWN)  # calls go on ringing, answering and ending while the router is down
        await asyncio.to_thread(r.start)
        await asyncio.wait_for(ami.logged_in.wait(), 20)
        await asyncio.gather(*plays)
        deadline = time.monotonic() + 30
        expected = {d for _, d in placed}
        while time.monotonic() < deadline:
            decisions, outcomes = await asyncio.to_thread(_logged, redis_server, prefix)
            if expected <= decisions and expected <= outcomes:
                break
            await asyncio.sleep(0.2)
        await ami.close()
        return killed, r

    killed, r = asyncio.run(scenario())
    decisions, outcomes = _logged(redis_server, prefix)
    in_flight = {d for at, d in placed if at >= killed - IN_FLIGHT}
    lost_decisions = {d for _, d in placed} - decisions
    lost_outcomes = {d for _, d in placed} - outcomes
    print(f"SIGKILL: {len(placed)} calls, {len(in_flight)} in the last 100 ms, lost {len(lost_decisions)} decisions, "
          f"{len(lost_outcomes)} outcomes")
    assert len(placed) >= 150, f"only {len(placed)} calls placed: the load did not reach the rate"
    assert lost_decisions <= in_flight, f"{len(lost_decisions - in_flight)} decisions lost beyond the last 100 ms"
    assert lost_outcomes <= in_flight, (f"{len(lost_outcomes - in_flight)} of {len(placed)} outcomes lost beyond the "
                                        f"last 100 ms; log:\n{r.log()[-3000:]}")
    assert "taken up again" in r.log(), "the restarted router read its journal"
