"""The wallboard follows a real queue: SIP phones as members (151, 152 of the `wallboard` queue), callers from
the trunk, the router's own AMI connection as shipped (asterisk/manager.conf) and its stream read as the page
reads it. A short day: one member pauses for lunch; A is answered at once; while the other member talks, B
and C wait, D gives up at once (a short abandon), E's route waits 3 s and times out, B gives up after a few
seconds; C is answered after the member's wrap-up. The wall's service level and abandon rate equal the
figures worked by hand from what Asterisk said happened."""

from __future__ import annotations

import aiohttp

from tests.helpers import BoardStream, board_queue, screen_token
from tests.live.sip.phones import answers
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST

QUEUE = "wallboard"
DID, BRIEF_DID = "3030", "3031"
"""The queue with the route's 120 s wait, and with 3 s (tests/live/sip/rules.yaml)."""
SL_SECONDS, SHORT_SECONDS = 10, 2
"""The rules' wallboard.service_level_seconds and short_abandon."""
WAIT = 60.0
"""Seconds a step may take on a loaded machine (the day itself lasts about 40 s)."""
A, B, C, D, E = "+79031113001", "+79031113002", "+79031113003", "+79031113004", "+79031113005"


def states(q: dict) -> dict[str, tuple[str, str]]:
    return {m["interface"]: (m["state"], m["reason"]) for m in q["members"]}


async def test_the_wall_follows_a_real_queue_through_a_day(sip):
    token = await screen_token(sip.store)
    await sip.phone("151", answers(after=1.0, talk=12.0))
    await sip.phone("152", answers(after=0.5, talk=1.0))
    url = f"http://127.0.0.1:{sip.stack.http_port}/api/wallboard/stream"
    async with aiohttp.ClientSession() as s, s.get(url, params={"token": token}) as resp:
        assert resp.status == 200
        wall = BoardStream(resp)

        async def at(predicate) -> dict:
            return board_queue(await wall.board_where(lambda b: predicate(board_queue(b, QUEUE)), WAIT), QUEUE)

        q = await at(lambda q: q["agents"].get("available") == 2)
        assert (q["waiting"], q["agents"]["on_call"], q["agents"]["paused"]) == (0, 0, 0)

        reply = await sip.ami.action("QueuePause", Queue=QUEUE, Interface="PJSIP/152", Paused="true", Reason="lunch")
        assert reply.get("Response") == "Success", dict(reply)
        q = await at(lambda q: q["agents"].get("paused") == 1)
        assert states(q)["PJSIP/152"] == ("paused", "lunch") and q["agents"]["available"] == 1

        first = await sip.trunk_call(DID, A)  # 151 answers after a second's ring and talks 12 s
        q = await at(lambda q: q["agents"].get("on_call") == 1)
        assert states(q)["PJSIP/151"][0] == "on_call" and q["agents"]["available"] == 0

        await sip.trunk_call(DID, B)  # nobody free (151 talks, 152 at lunch): B and C wait
        third = await sip.trunk_call(DID, C)
        q = await at(lambda q: q["waiting"] == 2)
        assert q["agents"]["on_call"] == 1 and q["agents"]["paused"] == 1

        await sip.trunk_call(DID, D)
        await sip.event(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == D)
        await sip.hangup(await sip.channel_of(D))  # D gives up as soon as the queue has him
        await sip.trunk_call(BRIEF_DID, E)  # E's route waits 3 s in the queue, then every step has failed
        q = await at(lambda q: q["today"].get("short_abandoned") == 1 and q["today"].get("timed_out") == 1)
        assert q["waiting"] == 2 and q["today"]["abandoned"] == 1

        q = await at(lambda q: q["longest_wait"] >= 4)
        await sip.hangup(await sip.channel_of(B))  # B gives up after a few seconds
        q = await at(lambda q: q["waiting"] == 1 and q["today"].get("abandoned") == 2)
        assert q["today"]["short_abandoned"] == 1

        q = await at(lambda q: states(q).get("PJSIP/151", ("",))[0] == "wrapup")  # 151 hangs up on A
        assert q["waiting"] == 1, "C still waits while 151 wraps up"
        q = await at(lambda q: q["waiting"] == 0 and q["today"].get("answered") == 2)
        assert (await first.result()).code == 200 and (await third.result()).code == 200

    # by hand, from Asterisk's own events (the test's AMI user sees them all)
    uid = {e["CallerIDNum"]: e["Uniqueid"] for e in sip.events("QueueCallerJoin", Queue=QUEUE)}
    held = {e["Uniqueid"]: int(e["HoldTime"]) for e in sip.events("AgentConnect", Queue=QUEUE)}
    left = {e["Uniqueid"]: int(e["HoldTime"]) for e in sip.events("QueueCallerAbandon", Queue=QUEUE)}
    assert set(held) == {uid[A], uid[C]} and set(left) == {uid[B], uid[D], uid[E]}, (held, left)
    assert held[uid[A]] <= SL_SECONDS < held[uid[C]], f"A at once, C after the wrap-up: {held}"
    assert left[uid[D]] < SHORT_SECONDS <= left[uid[B]], f"D gave up at once, B after a few seconds: {left}"
    # answered A, C; abandoned B, D (short); timed out E: offered 5, 4 counted; in time 1; abandoned 1
    offered, short = 5, 1
    today = q["today"]
    assert (today["offered"], today["answered"], today["answered_in_time"], today["abandoned"],
            today["short_abandoned"], today["timed_out"]) == (offered, 2, 1, 2, short, 1)
    assert today["service_level"] == 1 / (offered - short) == 0.25
    assert today["abandon_rate"] == (2 - short) / (offered - short) == 0.25
    assert q["levels"]["service_level"] == "bad" and q["levels"]["abandon_rate"] == "bad"
