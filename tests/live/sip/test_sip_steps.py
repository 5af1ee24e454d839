"""The walk of the router's steps with real phones, and what the trunk hears when every step fails.

A phone's 486 is Dial's BUSY: the walk goes on to the next step. When every step failed, the
dialplan hangs the caller up with CALLROUTER_FAILED_CAUSE (default 19, "no answer"), which a SIP
trunk receives as 480 Temporarily Unavailable (without a cause Asterisk would answer 603 Decline,
"the person called refused the call"); the admin may choose another cause, e.g. 17 (486 Busy Here).
"""

from __future__ import annotations

import contextlib

from tests.live.sip.phones import answers, refuses, rings
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST


def devices(dials: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(PJSIP/112-0000000a, BUSY) -> (PJSIP/112, BUSY)."""
    return [(channel.rsplit("-", 1)[0], status) for channel, status in dials]


@contextlib.asynccontextmanager
async def global_variables(sip, **values: str):
    """Dialplan globals set for the block (AMI Setvar without a channel), then set back."""
    before = {k: (await sip.ami.action("Getvar", Variable=k)).get("Value", "") for k in values}
    for k, v in values.items():
        assert (await sip.ami.action("Setvar", Variable=k, Value=v))["Response"] == "Success"
    try:
        yield
    finally:
        for k, v in before.items():
            await sip.ami.action("Setvar", Variable=k, Value=v)


async def test_a_phone_answering_486_is_walked_past_to_the_next_step(sip):
    refusing = await sip.phone("112", refuses(486, "Busy Here"))
    await sip.phone("113", answers(after=0.3, talk=0.5))
    call = await sip.trunk_call("3002", "+79031110101")

    result = await call.result()
    assert (result.status, result.code) == (0, 200)
    channel = await sip.channel_of("+79031110101")
    d = await sip.decision("+79031110101")
    assert [(s["type"], s["dest"]) for s in d["steps"]] == [("dial", "PJSIP/112"), ("dial", "PJSIP/113")]
    assert devices(sip.dials(channel)) == [("PJSIP/112", "BUSY"), ("PJSIP/113", "ANSWER")]
    assert [x for x in sip.walk(channel) if x[0] == "callrouter-step"] == [
        ("callrouter-step", "dial-1", "Dial"), ("callrouter-step", "dial-1", "Goto"),
        ("callrouter-step", "dial-2", "Dial")]
    o = await sip.outcome("+79031110101")
    assert (o["result"], o["by"], o["decision"]) == ("answered", "PJSIP/113", d["id"])
    assert len(refusing.invites()) == 1


async def test_when_every_step_fails_the_trunk_hears_480_and_the_call_is_recorded_missed(sip):
    await sip.phone("114", rings())
    call = await sip.trunk_call("3003", "+79031110102")

    result = await call.result()
    assert (result.status, result.code) == (0, 480)
    channel = await sip.channel_of("+79031110102")
    assert sip.walk(channel)[-3:] == [("callrouter-step", "dial-1", "Goto"), ("callrouter-step", "failed", "UserEvent"),
                                      ("callrouter-step", "failed", "Hangup")]
    hangup = await sip.event(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == channel)
    assert hangup["Cause"] == "19"
    o = await sip.outcome("+79031110102")
    assert (o["result"], o["reason"]) == ("missed", "every step failed (last: dial NOANSWER)")
    record = await sip.raw_call(o["decision"])
    assert (record["result"], record["rule"], record["dnid"]) == ("missed", "nobody answers", "3003")


async def test_the_cause_the_trunk_hears_is_a_dialplan_setting(sip):
    await sip.phone("114", rings())
    async with global_variables(sip, CALLROUTER_FAILED_CAUSE="17"):
        call = await sip.trunk_call("3003", "+79031110103")
        result = await call.result()
    assert (result.status, result.code) == (0, 486)
    assert (await sip.outcome("+79031110103"))["result"] == "missed"


async def test_the_fallback_queue_timing_out_is_heard_as_the_same_cause(sip):
    # the router unreachable: the dialplan's own fallback queue (`support`: PJSIP/103, not registered)
    async with global_variables(sip, CALLROUTER_AGI="agi://127.0.0.1:1/route", CALLROUTER_FALLBACK_TIMEOUT="2"):
        call = await sip.trunk_call("3001", "+79031110104")
        result = await call.result()
    channel = await sip.channel_of("+79031110104")
    assert (result.status, result.code) == (0, 480)
    assert sip.walk(channel)[-3:] == [("callrouter-inbound", "fallback", "Queue"),
                                      ("callrouter-inbound", "fallback", "UserEvent"),
                                      ("callrouter-inbound", "fallback", "Hangup")]
    o = await sip.outcome("+79031110104")
    assert (o["result"], o["decision"]) == ("missed", "")
    assert o["reason"] == "every step failed (last: queue TIMEOUT)", "not: the caller hung up"
