"""Callbacks on a real Asterisk with SIP phones: the router rings the agent's phone first, then dials the customer
through the trunk with the company's caller ID; an answered callback closes the task, an unanswered agent leaves
the customer undialled; a premium number is refused before Asterisk hears of it; the worklist dials in its order
and only in the customer's own hours (a router in this process, with an injected clock, originating on the same
Asterisk); two routers never dial one customer twice."""

from __future__ import annotations

import asyncio
from datetime import datetime

from router.asterisk.amiconnection import AMITarget
from router.asterisk.originate import Originator
from router.core.decide import CompiledRules
from router.core.rulefile import load_rules
from router.service import Router
from tests.helpers import MSK, Clock, add_user, http_post, user_token
from tests.live.sip.driver import WAIT, Sip
from tests.live.sip.phones import answers, rings
from tests.live.sip.stack import HERE, SIP_TEST
from tests.live.stack import DIAL_SECRET

pytestmark = SIP_TEST

COMPANY_CALLER_ID = "+74951234567"
MONDAY_15 = datetime(2026, 11, 23, 15, 0, tzinfo=MSK).timestamp()
"""15:00 in Moscow, 22:00 in Vladivostok."""


async def missed_task(sip: Sip, number: str) -> str:
    """A missed call from `number` (line 3050 rings 173, nobody answers): the router opens its follow-up."""
    if not any(p.ext == "173" for p in sip.phones):
        await sip.phone("173", rings())
    call = await sip.trunk_call("3050", number)
    assert (await call.result()).code == 480
    async with asyncio.timeout(WAIT):
        while (task_id := await sip.store.open_task_of(number)) is None:
            await asyncio.sleep(0.1)
    return task_id


async def signed_in(sip: Sip, name: str) -> str:
    """A head's personal API token: the router rings the phone of the person the token is."""
    if await sip.store.user(name) is None:
        await add_user(sip.store, name, "head")
    return await user_token(sip.store, name)


async def call_back(sip: Sip, task_id: str, who: str) -> tuple[int, dict]:
    token = await signed_in(sip, who)
    return await http_post(sip.stack.http_port, f"/api/followups/{task_id}/call",
                           headers={"Authorization": f"Bearer {token}"}, json={})


async def test_click_to_call_rings_the_agent_then_the_customer_and_the_answer_closes_the_task(sip):
    number = "+79031110501"
    task_id = await missed_task(sip, number)
    agent = await sip.phone("171", answers(after=0.5, talk=None))
    customer = await sip.customer(answers(after=0.5, talk=1.0))
    status, body = await call_back(sip, task_id, "callback171")
    assert (status, body["status"]) == (202, "dialling"), body
    back = await sip.outcome(number, direction="outbound")
    assert (back["result"], back["by"]) == ("answered", "PJSIP/171")
    [to_agent] = agent.invites()
    assert number in to_agent.header("From"), "the agent's phone shows whom he is calling back"
    [to_customer] = customer.invites()
    assert to_customer.first_line.startswith(f"INVITE sip:{number}@")
    assert COMPANY_CALLER_ID in to_customer.header("From"), "the company's caller ID, never the customer's own"
    async with asyncio.timeout(WAIT):
        while (await sip.store.task(task_id))["state"] != "closed":
            await asyncio.sleep(0.1)
    log = [c["text"] for c in (await sip.store.task(task_id))["log"]]
    assert "callback by callback171: ringing PJSIP/171, then +79031110501 (attempt 1)" in log
    assert "agent's phone PJSIP/171 answered: dialling +79031110501" in log


async def test_an_agent_who_does_not_answer_leaves_the_customer_undialled(sip):
    number = "+79031110502"
    task_id = await missed_task(sip, number)
    agent = await sip.phone("172", rings())
    customer = await sip.customer(answers())
    status, body = await call_back(sip, task_id, "callback172")
    assert status == 202, body
    async with asyncio.timeout(WAIT):
        while (await sip.store.task(task_id)).get("callback_result", "") == "":
            await asyncio.sleep(0.1)
    task = await sip.store.task(task_id)
    assert task["callback_result"] == "callback not made: agent's phone PJSIP/172 did not answer"
    assert task["state"] == "open" and len(agent.invites()) == 1 and customer.invites() == []


async def test_a_premium_number_is_refused_and_never_reaches_asterisk(sip):
    number = "+78091234567"
    task_id = await missed_task(sip, number)
    status, body = await call_back(sip, task_id, "callback171")
    assert status == 422 and "refused by callbacks.deny 'premium'" in body["message"]
    assert not sip.events("OriginateResponse") and not sip.events("Newchannel", Channel="PJSIP/171-")
    log = await asyncio.to_thread(sip.stack.router_log)
    assert "not dialled: '+78091234567' refused by callbacks.deny 'premium'" in log


def in_process_router(sip: Sip, clock: Clock, worklist: str) -> tuple[Router, Originator]:
    """A second router, in this process with an injected clock, on the same store and Asterisk."""
    text = (HERE / "rules.yaml").read_text().replace("  agent_ring: 5\n", f"  agent_ring: 5\n  worklist: {worklist}\n")
    path = sip.folder / "rules.yaml"
    path.write_text(text)
    rules = CompiledRules(load_rules(path))
    router = Router(rules, sip.store, clock=clock)
    originator = Originator(AMITarget("127.0.0.1", sip.stack.asterisk.ami_port, "callrouter-dial", DIAL_SECRET))
    originator.start()
    router.callbacks.originate = originator.originate
    return router, originator


async def test_the_worklist_calls_in_its_order_only_in_the_customers_own_hours(sip):
    vladivostok, moscow = "+74232110303", "+74951110303"
    await sip.store.put_customers([(vladivostok, {"abc": "A", "manager": "callback174"}),
                                   (moscow, {"abc": "B", "manager": "callback174"})])
    first = await missed_task(sip, vladivostok)
    second = await missed_task(sip, moscow)
    await add_user(sip.store, "callback174", "agent", devices=("PJSIP/174",))
    await sip.phone("174", answers(after=0.5, talk=None))
    customer = await sip.customer(answers(after=0.5, talk=1.0))
    router, originator = in_process_router(sip, Clock(MONDAY_15), "[{owner: callback174, mode: progressive}]")
    try:
        assert await router.dialler.run() == 1
        await router.callbacks.wait()  # the agent answered; the customer is dialled after, so wait for his outcome
        assert (await sip.outcome(moscow, direction="outbound"))["result"] == "answered"
        [invite] = customer.invites()
        assert invite.first_line.startswith(f"INVITE sip:{moscow}@"), "22:00 in Vladivostok: the B customer first"
        assert (await sip.store.task(first)).get("callback_attempts") is None
        assert (await sip.store.task(second))["callback_attempts"] == "1"
    finally:
        originator.close()
        await router.followups.outbox.close()


async def test_two_routers_never_dial_one_customer_twice(sip):
    number = "+79031110504"
    await sip.store.put_customers([(number, {"manager": "duty304"})])
    await missed_task(sip, number)
    for ext in ("174", "175"):
        await add_user(sip.store, f"callback{ext}", "agent", devices=(f"PJSIP/{ext}",), holds=("duty304",))
        await sip.phone(ext, answers(after=1.0, talk=None))
    customer = await sip.customer(answers(after=0.5, talk=1.0))
    clock = Clock(MONDAY_15)
    one, o1 = in_process_router(sip, clock, "[{owner: duty304, mode: progressive}]")
    two, o2 = in_process_router(sip, clock, "[{owner: duty304, mode: progressive}]")
    try:
        started = await asyncio.gather(one.dialler.run(), two.dialler.run())
        await one.callbacks.wait()
        await two.callbacks.wait()
        assert sum(started) == 1
        await sip.outcome(number, direction="outbound")
        assert len(customer.invites()) == 1
        assert len(sip.events("OriginateResponse")) == 1
    finally:
        for o in (o1, o2):
            o.close()
        for r in (one, two):
            await r.followups.outbox.close()
