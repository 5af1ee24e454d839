"""The wallboard follows a real queue: SIP phones 161 and 162 log in to the `wallboard` queue (QueueAdd, 10 s
of wrap-up each), callers come from the trunk, the router follows Asterisk over its own AMI connection as
shipped (asterisk/manager.conf), and its stream is read as the page reads it. A short day: 162 pauses for
lunch; A is answered at once; while 161 talks, B and C wait, D gives up at once (a short abandon), E's route
waits 3 s and times out, B gives up after a few seconds; C is answered after 161's wrap-up; both log out.
The wall's service level and abandon rate equal the figures worked by hand from what Asterisk said happened,
with the report's thresholds (T 20 s, short abandon 5 s: the defaults), and the report's own today so far
agrees."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp

from router.core.rulefile import load_rules_text
from router.reports.sofar import queues_so_far
from tests.helpers import BoardStream, board_queue, screen_token
from tests.live.sip.phones import answers
from tests.live.sip.stack import HERE, SIP_TEST

pytestmark = SIP_TEST

QUEUE = "wallboard"
DID, BRIEF_DID = "3040", "3041"
"""The queue with the route's 120 s wait, and with 3 s (tests/live/sip/rules.yaml)."""
T, SHORT = 20, 5
"""report.service_level and report.short_abandon, as the rules leave them."""
WAIT = 60.0
"""Seconds a step may take on a loaded machine (the day itself lasts about 40 s)."""
A, B, C, D, E = "+79031114001", "+79031114002", "+79031114003", "+79031114004", "+79031114005"
AGENTS = {"PJSIP/161": "Agent 161", "PJSIP/162": "Agent 162"}


SHARED = ("offered", "answered", "abandoned", "service_level", "service_level_seconds", "abandon_rate")
"""What the wall and the report's today so far both show, under the same names."""


def states(q: dict) -> dict[str, tuple[str, str]]:
    return {m["interface"]: (m["state"], m["reason"]) for m in q["members"]}


async def test_the_wall_follows_a_real_queue_through_a_day(sip):
    token = await screen_token(sip.store)
    await sip.phone("161", answers(after=1.0, talk=16.0))
    await sip.phone("162", answers(after=0.5, talk=1.0))
    url = f"http://127.0.0.1:{sip.stack.http_port}/api/wallboard/stream"
    async with aiohttp.ClientSession() as s, s.get(url, params={"token": token}) as resp:
        assert resp.status == 200
        wall = BoardStream(resp)

        async def at(predicate) -> dict:
            return board_queue(await wall.board_where(lambda b: predicate(board_queue(b, QUEUE)), WAIT), QUEUE)

        for interface, name in AGENTS.items():  # log in
            reply = await sip.ami.action("QueueAdd", Queue=QUEUE, Interface=interface, MemberName=name,
                                         StateInterface=interface, Wrapuptime="10")
            assert reply.get("Response") == "Success", dict(reply)
        q = await at(lambda q: q["agents"].get("available") == 2)
        assert sorted(m["name"] for m in q["members"]) == sorted(AGENTS.values())
        assert (q["waiting"], q["agents"]["on_call"], q["agents"]["paused"]) == (0, 0, 0)

        reply = await sip.ami.action("QueuePause", Queue=QUEUE, Interface="PJSIP/162", Paused="true", Reason="lunch")
        assert reply.get("Response") == "Success", dict(reply)
        q = await at(lambda q: q["agents"].get("paused") == 1)
        assert states(q)["PJSIP/162"] == ("paused", "lunch") and q["agents"]["available"] == 1

        first = await sip.trunk_call(DID, A)  # 161 answers after a second's ring and talks 16 s
        q = await at(lambda q: q["agents"].get("on_call") == 1)
        assert states(q)["PJSIP/161"][0] == "on_call" and q["agents"]["available"] == 0

        await sip.trunk_call(DID, B)  # nobody free (161 talks, 162 at lunch): B and C wait
        third = await sip.trunk_call(DID, C)
        q = await at(lambda q: q["waiting"] == 2)
        assert q["agents"]["on_call"] == 1 and q["agents"]["paused"] == 1

        await sip.trunk_call(DID, D)
        await sip.event(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == D)
        await sip.hangup(await sip.channel_of(D))  # D gives up as soon as the queue has him
        await sip.trunk_call(BRIEF_DID, E)  # E's route waits 3 s in the queue, then every step has failed
        q = await at(lambda q: q["today"].get("short_abandoned") == 1 and q["today"].get("timed_out") == 1)
        assert q["waiting"] == 2 and q["today"]["abandoned"] == 0

        await at(lambda q: q["longest_wait"] >= SHORT + 2)
        await sip.hangup(await sip.channel_of(B))  # B gives up after a few seconds
        q = await at(lambda q: q["waiting"] == 1 and q["today"].get("abandoned") == 1)
        assert q["today"]["short_abandoned"] == 1

        q = await at(lambda q: states(q).get("PJSIP/161", ("",))[0] == "wrapup")  # 161 hangs up on A
        assert q["waiting"] == 1, "C still waits while 161 wraps up"
        q = await at(lambda q: q["waiting"] == 0 and q["today"].get("answered") == 2)
        assert (await first.result()).code == 200 and (await third.result()).code == 200
        day = q["today"]

        for interface in AGENTS:  # log out
            reply = await sip.ami.action("QueueRemove", Queue=QUEUE, Interface=interface)
            assert reply.get("Response") == "Success", dict(reply)
        q = await at(lambda q: q["members"] == [])
        assert q["today"] == day, "the day's figures stay when the members leave"

    # by hand, from Asterisk's own events (the test's AMI user sees them all)
    uid = {e["CallerIDNum"]: e["Uniqueid"] for e in sip.events("QueueCallerJoin", Queue=QUEUE)}
    held = {e["Uniqueid"]: int(e["HoldTime"]) for e in sip.events("AgentConnect", Queue=QUEUE)}
    left = {e["Uniqueid"]: int(e["HoldTime"]) for e in sip.events("QueueCallerAbandon", Queue=QUEUE)}
    assert set(held) == {uid[A], uid[C]} and set(left) == {uid[B], uid[D], uid[E]}, (held, left)
    assert held[uid[A]] <= T < held[uid[C]], f"A at once, C after the wrap-up: {held}"
    assert left[uid[D]] < SHORT <= left[uid[B]], f"D gave up at once, B after a few seconds: {left}"
    # answered A (in time), C; abandoned B; D a short abandon (apart, not offered); E timed out: offered 4
    offered = 4
    assert (day["offered"], day["answered"], day["answered_in_time"], day["abandoned"], day["short_abandoned"],
            day["timed_out"], day["service_level_seconds"]) == (offered, 2, 1, 1, 1, 1, T)
    assert day["service_level"] == 1 / offered == 0.25
    assert day["abandon_rate"] == 1 / offered == 0.25
    assert q["levels"]["service_level"] == "bad" and q["levels"]["abandon_rate"] == "bad"

    # the report's today so far (router/reports/sofar.py, from the outcomes the router wrote) says the same.
    # Not short_abandoned: D hangs up within milliseconds of the router's decision, before the decision log's
    # batch is written, so the report has D for the day but under no queue (its record's queue is empty).
    for number in (A, B, C, D, E):
        await sip.outcome(number)
    rules = load_rules_text((HERE / "rules.yaml").read_text())
    zone, now = ZoneInfo(rules.company.timezone), time.time()
    today = datetime.fromtimestamp(now, zone).date().isoformat()
    tile = queues_so_far((await sip.store.report_counters([today]))[0], await sip.store.agents_now(), rules.report,
                         zone, now)[QUEUE]
    assert {f: tile[f] for f in SHARED} == {f: day[f] for f in SHARED}, "the wall and the report agree"
