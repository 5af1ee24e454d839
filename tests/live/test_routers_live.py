"""Two routers behind one `hagi://` DNS SRV name on a real Asterisk, one of them killed mid-call."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.live.srv import decided_by, dialled, joined_queue, outcomes_of, two_routers, why_not
from tests.live.stack import PREFIX

pytestmark = [pytest.mark.skipif(PREFIX is None, reason="asterisk is not on PATH"),
              pytest.mark.skipif(why_not() is not None, reason=str(why_not()))]


@pytest.fixture
async def stack(redis_url):
    async with two_routers(redis_url) as s:
        yield s


async def test_a_router_killed_mid_call_costs_that_call_the_fallback_and_the_next_calls_nothing(stack):
    ami, r, prefix, crm = stack.ami, stack.r, stack.prefix, stack.crm
    first, victim = "+79040000001", "+79040000002"
    after = [f"+790400001{i:02d}" for i in range(10)]

    await ami.call("2001", first)
    await ami.wait_for(dialled(first))
    assert await decided_by(r, prefix, first) == "r1", "SRV priority 10 is tried first"

    crm.stalled = True
    await ami.call("2001", victim)
    async with asyncio.timeout(10):
        await crm.asked.wait()  # the victim's session is open on r1, which waits for the CRM
    stack.routers["r1"].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    crm.stalled = False
    joined = await ami.wait_for(joined_queue(victim))
    assert joined["Queue"] == "support", "the dialplan's fallback queue takes the call whose router died"
    assert float(joined["_at"]) - killed < 2.0

    for number in after:  # r1 refuses connections now: Asterisk goes on to the next SRV target at once
        await ami.call("2001", number)
    for number in after:
        await ami.wait_for(dialled(number))
        assert await decided_by(r, prefix, number) == "r2"
    assert not [e for e in ami.events if e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") in after]
    assert stack.responder.queries >= len(after) + 2, "Asterisk looks the SRV record up on every call"

    recorded = await outcomes_of(r, prefix, {first, victim, *after})
    assert all(len(os) == 1 for os in recorded.values()), "each outcome once"
    assert recorded[victim][0]["decision"] == "" and recorded[victim][0]["queue"] == "support"
    assert all(recorded[n][0]["decision"] and recorded[n][0]["result"] == "answered" for n in after)
