"""The wallboard follows a real queue: SIP phones as members (151, 152 of the `wallboard` queue), callers from
the trunk, the router's own AMI connection as shipped (asterisk/manager.conf) and its stream read as the page
reads it. A short day: one member pauses for lunch, one caller is answered at once, two wait while the other
member talks, one of them gives up, the last is answered after the member's wrap-up. The wall's service level
and abandon rate equal the figures worked by hand from what happened."""

from __future__ import annotations

import aiohttp

from tests.helpers import BoardStream, board_queue, screen_token
from tests.live.sip.phones import answers
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST

QUEUE = "wallboard"
DID = "3030"
WAIT = 60.0
"""Seconds a step may take on a loaded machine (the day itself lasts about 40 s)."""


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

        def at(predicate):
            return wall.board_where(lambda b: predicate(board_queue(b, QUEUE)), WAIT)

        q = board_queue(await at(lambda q: q["agents"].get("available") == 2), QUEUE)
        assert (q["waiting"], q["agents"]["on_call"], q["agents"]["paused"]) == (0, 0, 0)

        reply = await sip.ami.action("QueuePause", Queue=QUEUE, Interface="PJSIP/152", Paused="true", Reason="lunch")
        assert reply.get("Response") == "Success", dict(reply)
        q = board_queue(await at(lambda q: q["agents"].get("paused") == 1), QUEUE)
        assert states(q)["PJSIP/152"] == ("paused", "lunch") and q["agents"]["available"] == 1

        # A: answered by 151 after a second's ring; 151 talks 12 s
        first = await sip.trunk_call(DID, "+79031113001")
        q = board_queue(await at(lambda q: q["agents"].get("on_call") == 1), QUEUE)
        assert states(q)["PJSIP/151"][0] == "on_call" and q["agents"]["available"] == 0

        # B and C: nobody free (151 talks, 152 at lunch): both wait
        await sip.trunk_call(DID, "+79031113002")
        third = await sip.trunk_call(DID, "+79031113003")
        q = board_queue(await at(lambda q: q["waiting"] == 2 and q["longest_wait"] >= 3), QUEUE)
        assert q["agents"]["on_call"] == 1 and q["agents"]["paused"] == 1

        # B gives up
        await sip.hangup(await sip.channel_of("+79031113002"))
        q = board_queue(await at(lambda q: q["waiting"] == 1 and q["today"].get("abandoned") == 1), QUEUE)
        assert q["today"]["short_abandoned"] == 0

        # 151 hangs up on A: wrap-up (10 s), then it takes C
        q = board_queue(await at(lambda q: states(q).get("PJSIP/151", ("",))[0] == "wrapup"), QUEUE)
        assert q["waiting"] == 1, "C still waits while 151 wraps up"
        q = board_queue(await at(lambda q: q["waiting"] == 0 and q["today"].get("answered") == 2), QUEUE)
        assert (await first.result()).code == 200 and (await third.result()).code == 200

    # by hand, from what Asterisk said happened: SL counts answers within 10 s of (offered - short abandons)
    held = {e["Uniqueid"]: int(e["HoldTime"]) for e in sip.events("AgentConnect", Queue=QUEUE)}
    gave_up = [int(e["HoldTime"]) for e in sip.events("QueueCallerAbandon", Queue=QUEUE)]
    assert len(held) == 2 and len(gave_up) == 1 and gave_up[0] >= 2, (held, gave_up)
    assert sorted(h <= 10 for h in held.values()) == [False, True], f"A at once, C after the wrap-up: {held}"
    offered, in_time, abandoned = len(held) + len(gave_up), sum(h <= 10 for h in held.values()), len(gave_up)
    today = q["today"]
    assert (today["offered"], today["answered_in_time"], today["abandoned"]) == (offered, in_time, abandoned)
    assert today["service_level"] == in_time / offered == 1 / 3
    assert today["abandon_rate"] == abandoned / offered == 1 / 3
    assert q["levels"]["service_level"] == "bad" and q["levels"]["abandon_rate"] == "bad"
