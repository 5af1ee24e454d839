"""A callback that keeps the caller's place, on a real Asterisk with SIP phones: callers wait in the shipped
`support` queue while its member cannot answer; one presses 1 (SIP INFO, dtmf-relay: app_queue's `context =
callrouter-hold` takes him to the router's `hold` script) and hangs up keeping his place. When the member is free,
app_queue serves the caller who waited longer first, then the router calls the held place back — before the live
caller who came after him — and only then does the later caller get the member."""

from __future__ import annotations

import asyncio

from tests.live.sip.driver import WAIT, Sip
from tests.live.sip.phones import answers
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST


async def joined(sip: Sip, number: str) -> None:
    await sip.event(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == number)


async def test_a_caller_who_pressed_1_is_called_back_in_his_turn_between_the_live_callers(sip):
    first, held, later = "+79031110511", "+79031110512", "+79031110513"
    waiting = await sip.trunk_call("3031", first)  # support's member 103 has no phone yet: everyone waits
    await joined(sip, first)
    pressed = await sip.trunk_call("3031", held, press_1_after=3.0)
    await joined(sip, held)
    result = await pressed.result()
    assert (result.status, result.code) == (0, 200), "he pressed 1, heard the router's answer, hung up"
    place = await sip.store.held_place(held)
    assert place["queue"] == "support"
    assert await sip.store.open_task_of(held) == place["task"]
    later_call = await sip.trunk_call("3031", later)
    await joined(sip, later)

    customer = await sip.customer(answers(after=0.5, talk=1.0))
    agent = await sip.phone("103", answers(after=0.5, talk=1.0))  # the member is free now
    async with asyncio.timeout(3 * WAIT):
        while len(agent.invites()) < 3:
            await asyncio.sleep(0.2)
    callers = [invite.header("From") for invite in agent.invites()]
    assert first in callers[0], callers
    assert held in callers[1] and "Callback" in callers[1], "the held place before the caller who came after him"
    assert later in callers[2], callers
    [callback] = customer.invites()
    assert callback.first_line.startswith(f"INVITE sip:{held}@")
    async with asyncio.timeout(WAIT):
        while (await sip.store.task(place["task"]))["state"] != "closed":
            await asyncio.sleep(0.1)
    assert not await sip.store.held_place(held)
    inbound = await sip.outcome(held)
    assert inbound["reason"] == "callback requested in queue support: place kept"
    assert (await sip.store.task(place["task"]))["count"] == "1", "one task, no second one for the call he left"
    for call in (waiting, later_call):
        assert (await call.result()).code == 200
