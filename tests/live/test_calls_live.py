"""Calls through a real Asterisk: the shipped dialplan walks what the real router decides, and the
router learns each outcome from AMI with the shipped manager user (no `dialplan` class)."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import aiohttp

from tests.live.stack import needs_asterisk

pytestmark = needs_asterisk


def caller_leg(did: str):
    """The ;2 half of Local/DID@… is the inbound caller."""
    return lambda e: e.get("Channel", "").startswith(f"Local/{did}@") and e.get("Channel", "").endswith(";2")


async def decision_of(live, number: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(10):
            while True:
                async with http.get(f"http://127.0.0.1:{live.http_port}/api/decisions?limit=200") as r:
                    found = [d for d in await r.json() if d.get("caller", {}).get("number") == number]
                if found:
                    return found[0]
                await asyncio.sleep(0.1)


async def test_dial_step_answered_is_recorded_with_the_routers_decision(live, ami, outcomes):
    await ami.call("2001", "+79030000001", "Anna")
    o = await outcomes("+79030000001")
    d = await decision_of(live, "+79030000001")
    assert (o["result"], o["by"], o["decision"]) == ("answered", "Local/ok1@live-agents", d["id"])
    assert d["rule"] == "dial answers" and d["call"]["name"] == "Anna"
    joined = await ami.wait_for(lambda e: e.get("Event") == "Cdr" and e.get("UserField") == d["id"])
    assert joined["Disposition"] == "ANSWERED"


async def test_busy_first_step_walks_on_to_the_next(live, ami, outcomes):
    await ami.call("2002", "+79030000002")
    o = await outcomes("+79030000002")
    assert (o["result"], o["by"]) == ("answered", "Local/ok1@live-agents")
    busy = await ami.wait_for(lambda e: e.get("Event") == "DialEnd" and e.get("DestChannel", "").startswith(
        "Local/busy@") and e.get("CallerIDNum") == "+79030000002")
    assert busy["DialStatus"] == "BUSY"


async def test_queue_step_answered_by_a_member(live, ami, outcomes):
    await ami.call("2003", "+79030000003")
    o = await outcomes("+79030000003")
    assert o["result"] == "answered" and o["queue"] == "support" and o["by"].startswith("Local/ok")


async def test_queue_timeout_walks_on_and_is_not_taken_for_an_abandon(live, ami, outcomes):
    await ami.call("2004", "+79030000004")
    o = await outcomes("+79030000004")
    assert (o["result"], o["by"]) == ("answered", "Local/ok1@live-agents")
    left = await ami.wait_for(lambda e: e.get("Event") == "QueueCallerAbandon" and e.get("CallerIDNum") ==
                              "+79030000004")
    assert left["Queue"] == "operators"


async def test_queue_priority_puts_the_urgent_caller_first(live, ami, outcomes):
    await ami.call("2006", "+79030000006")
    await ami.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == "+79030000006")
    await ami.call("2005", "+79030000005")
    urgent = await ami.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and
                                e.get("CallerIDNum") == "+79030000005")
    assert (urgent["Queue"], urgent["Position"]) == ("management", "1")
    both = [await outcomes("+79030000005"), await outcomes("+79030000006")]
    assert [o["result"] for o in both] == ["missed", "missed"]
    assert all(o["reason"].startswith("every step failed") for o in both), both


MENU = "callrouter-menu-live_main"
"""The context of the live rules' menu, which their `self_service` target leads to."""


async def test_ivr_step_hands_the_call_to_the_ivr_context(live, ami):
    await ami.call("2007", "+79030000007")
    e = await ami.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Context") == MENU
                           and e.get("CallerIDNum") == "+79030000007")
    assert e["Extension"] == "s"
    walked = [(x["Context"], x["Extension"]) for x in ami.events if x.get("Event") == "Newexten"
              and x.get("Channel") == e["Channel"] and x.get("Context") != "live-trunk"]
    # the AGI, the walk's one Goto, then the IVR: no walker priority between
    assert walked[:3] == [("callrouter-inbound", "2007"), ("callrouter-inbound", "2007"), (MENU, "s")]


async def test_ivr_step_after_a_busy_one_is_reached_through_the_walker(live, ami):
    await ami.call("2010", "+79030000011")
    e = await ami.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Context") == MENU
                           and e.get("CallerIDNum") == "+79030000011")
    walked = [(x["Context"], x["Extension"]) for x in ami.events if x.get("Event") == "Newexten"
              and x.get("Channel") == e["Channel"]]
    assert ("callrouter-step", "dial-1") in walked and ("callrouter-step", "ivr-2") in walked


async def test_trunk_delivering_to_s_is_routed_with_no_called_number(live, ami, outcomes):
    await ami.call("2001", "+79030000008", context="live-trunk-s")
    o = await outcomes("+79030000008")
    d = await decision_of(live, "+79030000008")
    assert o["result"] == "answered" and d["rule"] == "everyone else"


async def test_router_down_sends_the_call_to_the_fallback_queue_within_seconds(live, ami, outcomes):
    started = time.monotonic()
    await ami.call("2001", "+79030000009", CALLROUTER_AGI="agi://127.0.0.1:1/route")
    joined = await ami.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and
                                e.get("CallerIDNum") == "+79030000009")
    assert joined["Queue"] == "support" and float(joined["_at"]) - started < 5.0
    o = await outcomes("+79030000009")
    assert o["result"] == "answered" and o["queue"] == "support" and o["decision"] == ""


async def test_missed_call_opens_a_follow_up_and_an_answered_callback_closes_it(live, ami, outcomes):
    number = "+79030000010"
    await ami.call("2008", number)
    missed = await outcomes(number)
    assert missed["result"] == "missed" and missed["reason"] == "every step failed (last: dial NOANSWER)"
    store = outcomes.store
    async with asyncio.timeout(10):
        while (task_id := await store.open_task_of(number)) is None:
            await asyncio.sleep(0.1)
    reply = await ami.action("Originate", Channel=f"Local/{number}@live-outbound", Application="Wait", Data="5",
                             CallerID="<+74951112233>", Timeout="20000", Async="true")
    assert reply["Response"] == "Success"
    back = await outcomes(number, direction="outbound")
    assert back["result"] == "answered"
    async with asyncio.timeout(10):
        while await store.open_task_of(number) is not None:
            await asyncio.sleep(0.1)
    assert (await store.task(task_id))["state"] == "closed"


HOSTILE_NAMES = ['O"Brien, Jr. \\ "VIP"', "a|b;c (x) [y] =z", "Иван «Петров», ООО", "line\nbreak", "${EXTEN}`$(id)`"]


async def test_hostile_caller_names_are_routed_and_logged_as_they_are(live, ami, outcomes):
    numbers = [f"+7903000002{i}" for i in range(len(HOSTILE_NAMES))]
    for number, name in zip(numbers, HOSTILE_NAMES, strict=True):
        await ami.call("2001", number, context="live-trunk-named", NAME_B64=base64.b64encode(name.encode()).decode())
    for number, name in zip(numbers, HOSTILE_NAMES, strict=True):
        o = await outcomes(number)
        d = await decision_of(live, number)
        assert o["result"] == "answered" and d["rule"] == "dial answers", (name, o, d)
        assert d["call"]["name"] == name and d["caller"]["number"] == number, json.dumps(d)


async def test_manager_busy_on_a_custom_device_escalates_up(live, ami, outcomes):
    live.asterisk.cli("devstate change Custom:ivanov INUSE")
    try:
        async with asyncio.timeout(10):
            while "Custom:ivanov" not in await outcomes.store.busy():
                await asyncio.sleep(0.05)
        await ami.call("2999", "+79035550909")
        d = await decision_of(live, "+79035550909")
    finally:
        live.asterisk.cli("devstate change Custom:ivanov NOT_INUSE")
    assert d["rule"] == "A customers reach their manager"
    assert [(s["type"], s["dest"]) for s in d["steps"]] == [("queue", "support")]
    assert (await outcomes("+79035550909"))["result"] == "answered"


async def test_the_feature_code_flips_the_night_switch_for_the_next_call(live, ami, outcomes):
    """*28 from a phone (the shipped [callrouter-features]) asks the router over FastAGI; the next call follows
    the rule with `when: {switch: night}`; *28 again is day."""

    async def switch_is(mode: str) -> dict:
        async with aiohttp.ClientSession() as http, asyncio.timeout(15):
            while True:
                async with http.get(f"http://127.0.0.1:{live.http_port}/api/switch") as r:
                    state = await r.json()
                if state["switch"] == mode:
                    return state
                await asyncio.sleep(0.1)

    await ami.call("*28", "101", context="live-phones")
    state = await switch_is("night")
    assert state["by"] == "feature code from 101"
    played = await ami.wait_for(lambda e: e.get("Event") == "AGIExecEnd" and "CALLROUTER_SWITCH" in e.get(
        "Command", ""))
    assert played["Command"] == 'EXEC MSet "CALLROUTER_SWITCH=night"'
    await ami.call("2030", "+79030000030")
    assert (await decision_of(live, "+79030000030"))["rule"] == "the night switch is on"
    await ami.call("*28", "101", context="live-phones")
    await switch_is("day")
    await ami.call("2030", "+79030000031")
    assert (await decision_of(live, "+79030000031"))["rule"] == "the day line"
