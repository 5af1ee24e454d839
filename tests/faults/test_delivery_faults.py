"""What leaves the router arrives, once: a real `router serve` following calls on an AMI simulator
opens follow-ups for missed calls, and their SMS and webhooks go to a target that is down for a
while, or slow when the router is stopped. The target honours `Idempotency-Key` as a careful one
does, and counts by it: every message taken once, in order within its task, none lost."""

from __future__ import annotations

import asyncio
import signal
import time

from router.asterisk.amisim import AMIServer
from router.asterisk.pbxsim import Attempt, SimulatedPBX
from router.state.keys import Keys
from tests.fake_services import Sink, notify_section
from tests.helpers import RULES_TEXT

CALLERS = 20
AGAIN = 10
"""Callers who miss us a second time while the first messages still wait: their task's webhook goes
`created` then `updated`, in that order."""
DOWN = 8.0
"""Seconds the target stays down after the last message is queued (the outbox has tried each a few times)."""


async def _started(router_process, rules, ami: AMIServer, instance: str):
    r = await asyncio.to_thread(router_process, store=rules[0], rules=rules[1],
                                env={"ROUTER_INSTANCE": instance},
                                args=("--ami", f"ami://{ami.username}:{ami.secret}@127.0.0.1:{ami.port}"))
    await asyncio.wait_for(ami.logged_in.wait(), 20)
    return r


async def _missed(r, pbx: SimulatedPBX, numbers: list[str], first_uid: int) -> None:
    """Each number calls, is routed, and hangs up while the queue rings: a missed call."""
    plays = []
    for uid, number in enumerate(numbers, first_uid):
        res = await r.acall(number, uid=uid, timeout=10)
        plays.append(pbx.inbound(number, res.variables["ROUTE_DECISION"],
                                 [Attempt("queue", "new-connection", "hangup", ring=0.3)]))
    await asyncio.gather(*plays)


async def _until(what: str, probe, seconds: float = 60) -> None:
    """Until `probe()` is true (asked in a thread: it may ask the router over HTTP)."""
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(probe):
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        await asyncio.sleep(0.1)


def _depth(r) -> int:
    return r.http("/healthz")[1]["outbox"]["depth"]


def _rules(tmp_path, sink: Sink):
    rules = tmp_path / "rules.yaml"
    # the callers hang up after 0.3 s of ringing: short abandons, which open follow-ups only so
    rules.write_text(RULES_TEXT + notify_section(sink.port) + "followup: {short_abandons: true}\n")
    return rules


def test_a_target_down_for_a_while_gets_every_message_once_in_order_per_task(redis_server, router_process,
                                                                              tmp_path):
    numbers = [f"+7916700{i:04d}" for i in range(CALLERS)]
    sink = Sink()  # down: nothing listens on its port yet

    async def scenario():
        ami = AMIServer(secret="deliver-s3cret")
        await ami.start()
        r = await _started(router_process, (redis_server.url, _rules(tmp_path, sink)), ami, "delivering")
        pbx = SimulatedPBX(ami, speed=1.0)
        await _missed(r, pbx, numbers, 1)
        await _missed(r, pbx, numbers[:AGAIN], 100)
        expected = CALLERS * 2 + AGAIN  # an SMS and a `created` each, an `updated` for those who called again
        await _until(f"{expected} messages queued", lambda: _depth(r) == expected)
        await asyncio.sleep(DOWN)  # the target's outage: the outbox keeps trying, the messages wait
        waiting = await asyncio.to_thread(_depth, r)
        await sink.up()
        await _until("every message taken", lambda: len(sink.taken) >= expected)
        await asyncio.sleep(1)  # anything sent twice would arrive now
        health = await asyncio.to_thread(r.http, "/healthz")
        await sink.down()
        await ami.close()
        return r, waiting, health[1]

    r, waiting, health = asyncio.run(scenario())
    print(f"\ntarget down {DOWN:.0f} s: {waiting} messages waited; {len(sink.taken)} taken, {sink.repeats} repeats")
    assert waiting == CALLERS * 2 + AGAIN, "nothing was lost or given up while the target was down"
    assert len(sink.taken) == CALLERS * 2 + AGAIN and sink.repeats == 0, "every message taken exactly once"
    sms = sink.bodies("sms")
    assert sorted(m["to"] for m in sms) == numbers, "one SMS per caller: the second miss is within the window"
    events: dict[str, list[str]] = {}
    for hook in sink.bodies("hook"):
        events.setdefault(hook["number"], []).append(hook["event"])
    assert events == {n: ["created", "updated"] if n in numbers[:AGAIN] else ["created"] for n in numbers}, \
        "in order within each task"
    assert health["outbox"]["depth"] == 0 and health["outbox"]["given_up"] == 0
    assert "given up" not in r.log()


def test_sigterm_with_sends_in_flight_to_a_slow_target_loses_none(redis_server, router_process, tmp_path):
    numbers = [f"+7916800{i:04d}" for i in range(CALLERS)]
    sink = Sink()
    sink.delay = 5.0  # every answer takes 5 s: SIGTERM finds sends under way

    async def scenario():
        await sink.up()
        ami = AMIServer(secret="deliver-s3cret")
        await ami.start()
        rules = (redis_server.url, _rules(tmp_path, sink))
        r = await _started(router_process, rules, ami, "stopping")
        await _missed(r, SimulatedPBX(ami, speed=1.0), numbers, 1)
        await _until("sends under way", lambda: sink.received >= CALLERS)
        r.signal(signal.SIGTERM)
        code = await asyncio.to_thread(r.wait)
        left = await asyncio.to_thread(redis_server.client().zcard, Keys(r.prefix).outbox_all)
        taken_before = len(sink.taken)
        sink.delay = 0.0
        ami.logged_in.clear()
        await asyncio.to_thread(r.start)
        await asyncio.wait_for(ami.logged_in.wait(), 20)
        await _until("every message taken", lambda: len(sink.taken) >= 2 * CALLERS)
        await _until("the queue empty", lambda: _depth(r) == 0)
        await sink.down()
        await ami.close()
        return r, code, left, taken_before

    r, code, left, taken_before = asyncio.run(scenario())
    print(f"\nSIGTERM with {CALLERS * 2} messages to a 5 s target: {taken_before} taken before the stop, {left} "
          f"still queued; after the restart {len(sink.taken)} taken, {sink.repeats} sent again (same key)")
    assert code == 0
    assert left > 0, "the stop came while messages were still on their way"
    assert len(sink.taken) == 2 * CALLERS, "none lost"
    assert sorted(m["to"] for m in sink.bodies("sms")) == numbers
    assert sorted(m["number"] for m in sink.bodies("hook")) == numbers
    assert "given up" not in r.log()
