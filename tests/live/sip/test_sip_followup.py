"""A missed call from the trunk becomes a follow-up; the agent calls the customer back from their phone
(the shipped [internal] context dials the national number through the trunk) and the answered
callback closes the follow-up by itself."""

from __future__ import annotations

import asyncio

from tests.live.sip.driver import WAIT
from tests.live.sip.phones import answers, rings
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST


async def test_a_missed_call_opens_a_follow_up_and_a_callback_from_the_agents_phone_closes_it(sip):
    number = "+79031110201"
    await sip.phone("114", rings())
    missed = await sip.trunk_call("3003", number)
    assert (await missed.result()).code == 480
    o = await sip.outcome(number)
    assert (o["result"], o["reason"]) == ("missed", "every step failed (last: dial NOANSWER)")
    async with asyncio.timeout(WAIT):
        while (task_id := await sip.store.open_task_of(number)) is None:
            await asyncio.sleep(0.1)

    customer = await sip.customer(answers(after=0.5, talk=None))
    callback = await sip.phone_call("114", "89031110201", talk=1.0)  # as the agent dials it: national form
    result = await callback.result()
    assert (result.status, result.code) == (0, 200)
    [invite] = customer.invites()
    assert invite.first_line.startswith("INVITE sip:89031110201@")
    back = await sip.outcome(number, direction="outbound")
    assert (back["result"], back["by"]) == ("answered", "PJSIP/114")
    async with asyncio.timeout(WAIT):
        while await sip.store.open_task_of(number) is not None:
            await asyncio.sleep(0.1)
    task = await sip.store.task(task_id)
    assert task["state"] == "closed", task
    record = await sip.raw_call(f"{back['linkedid']}:outbound:{number}")
    assert (record["direction"], record["result"], record["by"]) == ("outbound", "answered", "PJSIP/114")
