"""A personal manager the router cannot put the call through to is skipped by the rule's `escalate: up`,
judged by the device state Asterisk reports for a real phone: INUSE while it is on a call (from the
call itself), UNAVAILABLE once it has unregistered. Nothing here is set by hand."""

from __future__ import annotations

from tests.live.sip.phones import answers
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST

RULE = "A customers reach their manager"


def steps(d: dict) -> list[tuple[str, str]]:
    return [(s["type"], s["dest"]) for s in d["steps"]]


def dialled(sip, channel: str) -> list[str]:
    return [dest.rsplit("-", 1)[0] for dest, _ in sip.dials(channel)]


async def test_a_manager_on_a_real_call_is_skipped_by_escalate_up(sip):
    petrov = await sip.phone("121", answers(after=0.3, talk=None))
    await sip.phone("122", answers(after=0.3, talk=0.5))

    # idle: Petrov's client reaches Petrov
    first = await sip.trunk_call("3000", "+79035551001", talk=0.5)
    assert (await first.result()).code == 200
    d = await sip.decision("+79035551001")
    assert (d["rule"], steps(d)) == (RULE, [("dial", "PJSIP/121")])
    assert (await sip.outcome("+79035551001"))["by"] == "PJSIP/121"
    await sip.device_state("PJSIP/121", "NOT_INUSE")

    # on a call with a colleague: Asterisk reads PJSIP/121 INUSE, and so does the router (AMI)
    colleague = await sip.phone_call("123", "121")
    assert await sip.busy("PJSIP/121") == "INUSE"
    second = await sip.trunk_call("3000", "+79035551011", talk=0.5)
    assert (await second.result()).code == 200
    d = await sip.decision("+79035551011")
    assert (d["rule"], steps(d)) == (RULE, [("dial", "PJSIP/122")])
    assert dialled(sip, await sip.channel_of("+79035551011")) == ["PJSIP/122"]
    o = await sip.outcome("+79035551011")
    assert (o["result"], o["by"], o["decision"]) == ("answered", "PJSIP/122", d["id"])
    assert len(petrov.invites()) == 2, "the first client and the colleague; the second client never rang Petrov"

    await sip.hangup(await sip.channel("PJSIP/123-"))
    ended = await colleague.result()
    assert (ended.status, ended.code) == (0, 200)


async def test_a_manager_whose_phone_unregistered_is_skipped_by_escalate_up(sip):
    sidorova = await sip.phone("131", answers())
    await sip.phone("132", answers(after=0.3, talk=0.5))
    await sidorova.unregister()
    assert await sip.busy("PJSIP/131") == "UNAVAILABLE"

    call = await sip.trunk_call("3000", "+79035551021")
    assert (await call.result()).code == 200
    d = await sip.decision("+79035551021")
    assert (d["rule"], d["caller"]["manager"], steps(d)) == (RULE, "sidorova", [("dial", "PJSIP/132")])
    assert dialled(sip, await sip.channel_of("+79035551021")) == ["PJSIP/132"]
    o = await sip.outcome("+79035551021")
    assert (o["result"], o["by"]) == ("answered", "PJSIP/132")
    assert sidorova.invites() == []
