"""FreePBX keeps its features: a target that names a FreePBX extension is rung through a Local channel into
FreePBX's own `from-did-direct`, so FreePBX's follow-me and voicemail still act, while the rule's escalation
still holds: a busy hint escalates before anything rings, and a no-answer walks on to the next step.

The contexts below are minimal copies of what FreePBX 16/17 writes into extensions_additional.conf for an
extension (`from-did-direct` including `ext-findmefollow` and `ext-local`, the hint `PJSIP/N&Custom:DNDN`,
voicemail on busy and unavailable); they are added to the stack's dialplan once."""

from __future__ import annotations

import asyncio

import pytest

from tests.live.sip.phones import answers, rings
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST

FREEPBX_CONTEXTS = """
; ---- minimal copies of FreePBX's contexts (extensions_additional.conf, FreePBX 16/17) ----
[from-did-direct]
include => ext-findmefollow
include => ext-local

[ext-local]
; 141: voicemail on busy and on no answer (FreePBX: macro-exten-vm, then vmb141 / vmu141)
exten => 141,hint,PJSIP/141&Custom:DND141
exten => 141,1,GotoIf($["${DEVICE_STATE(Custom:DND141)}" = "BUSY"]?vmb141,1)
 same => n,Dial(PJSIP/141,4)
 same => n,Goto(${IF($["${DIALSTATUS}" = "BUSY"]?vmb141:vmu141)},1)
exten => vmb141,1,Answer()
 same => n,Wait(2)
 same => n,Hangup()
exten => vmu141,1,Answer()
 same => n,Wait(2)
 same => n,Hangup()
; 142: no voicemail (FreePBX: novm, then macro-hangupcall)
exten => 142,hint,PJSIP/142&Custom:DND142
exten => 142,1,Dial(PJSIP/142,4)
 same => n,Hangup()
exten => 144,hint,PJSIP/144&Custom:DND144

[ext-findmefollow]
; 144 follows its owner to 145 too (FreePBX: Find Me/Follow Me, ringallv2)
exten => 144,1,Dial(PJSIP/144&PJSIP/145,10)
 same => n,Hangup()
"""


@pytest.fixture(scope="module")
def freepbx(sip_stack_running):
    ast = sip_stack_running.asterisk
    with open(ast.run / "etc" / "extensions.conf", "a") as f:
        f.write(FREEPBX_CONTEXTS)
    ast.cli("dialplan reload")
    assert "ext-local" in ast.cli("dialplan show 141@ext-local")
    return ast


def steps(d: dict) -> list[tuple[str, str]]:
    return [(s["type"], s["dest"]) for s in d["steps"]]


async def test_a_busy_hint_escalates_before_freepbx_rings(sip, freepbx):
    """DND (FreePBX's Custom:DND141 in the hint) makes hint:141@ext-local BUSY: the router reads it from AMI
    ExtensionStatus as it changes, and the rule's `escalate: down` takes the call to the next person."""
    phone141 = await sip.phone("141", answers())
    await sip.phone("143", answers(after=0.3, talk=0.5))
    freepbx.cli("devstate change Custom:DND141 BUSY")
    try:
        assert await sip.busy("hint:141@ext-local") == "BUSY"
        call = await sip.trunk_call("3010", "+79035552001", talk=0.5)
        assert (await call.result()).code == 200
        d = await sip.decision("+79035552001")
        assert steps(d) == [("dial", "PJSIP/143")]
        assert "fpbx141 busy → escalated down to agent143" in d["reasons"]
        assert (await sip.outcome("+79035552001"))["by"] == "PJSIP/143"
        assert phone141.invites() == []
    finally:
        freepbx.cli("devstate change Custom:DND141 NOT_INUSE")
    await sip.device_state("hint:141@ext-local", "NOT_INUSE")


async def test_freepbx_voicemail_answers_an_unanswered_extension_and_the_call_is_missed(sip, freepbx):
    """FreePBX's own behaviour: the extension rings its 4 s, its voicemail answers. The walk stays there (the
    caller is FreePBX's), and nobody talked to the caller: a missed call, a follow-up."""
    phone141 = await sip.phone("141", rings())
    phone143 = await sip.phone("143", answers())
    call = await sip.trunk_call("3010", "+79035552002")
    assert (await call.result()).code == 200, "voicemail answered the caller"
    d = await sip.decision("+79035552002")
    assert steps(d) == [("dial", "Local/141@from-did-direct"), ("dial", "PJSIP/143")]
    o = await sip.outcome("+79035552002")
    assert (o["result"], o["reason"]) == ("missed", "Local/141@from-did-direct took the call and no person "
                                                    "answered it (answered by the dialplan in from-did-direct: "
                                                    "voicemail, an announcement or a queue)")
    assert len(phone141.invites()) == 1 and phone143.invites() == []
    async with asyncio.timeout(30):
        while not await sip.r.hget(sip.keys.state("+79035552002"), "followup"):
            await asyncio.sleep(0.1)


async def test_a_freepbx_extension_nobody_answers_walks_on_to_the_next_step(sip, freepbx):
    """No voicemail: FreePBX's dial ends, its Local channel hangs up, DIALSTATUS comes back to the walk."""
    phone142 = await sip.phone("142", rings())
    await sip.phone("143", answers(after=0.3, talk=0.5))
    call = await sip.trunk_call("3011", "+79035552003", talk=0.5)
    assert (await call.result()).code == 200
    channel = await sip.channel_of("+79035552003")
    dials = sip.dials(channel)
    assert [d.rsplit("-", 1)[0] for d, _ in dials] == ["Local/142@from-did-direct", "PJSIP/143"]
    assert dials[0][1] == "NOANSWER", "FreePBX's Dial ended NOANSWER, its Local channel hung up: the walk reads it"
    o = await sip.outcome("+79035552003")
    assert (o["result"], o["by"]) == ("answered", "PJSIP/143")
    assert len(phone142.invites()) == 1


async def test_freepbx_follow_me_still_happens_and_the_real_phone_is_recorded(sip, freepbx):
    """The extension's follow-me rings the owner's mobile (145) too; 145 answers: the router records PJSIP/145,
    not the Local channel."""
    await sip.phone("144", rings())
    await sip.phone("145", answers(after=0.5, talk=0.5))
    call = await sip.trunk_call("3012", "+79035552004", talk=0.5)
    assert (await call.result()).code == 200
    d = await sip.decision("+79035552004")
    assert steps(d) == [("dial", "Local/144@from-did-direct"), ("dial", "PJSIP/143")]
    o = await sip.outcome("+79035552004")
    assert (o["result"], o["by"], o["decision"]) == ("answered", "PJSIP/145", d["id"])
