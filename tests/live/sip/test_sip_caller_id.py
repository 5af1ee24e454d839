"""Who is calling, as a SIP trunk says it: P-Asserted-Identity (the trunk endpoint trusts it) or From,
in E.164 and national forms. The router's decision, the dialplan's walk, the recorded outcome and
the report's raw record all name the caller by one E.164 number; the agent's phone is shown the
caller ID as the trunk gave it."""

from __future__ import annotations

import pytest

from tests.live.sip.phones import answers
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST

ROUTED = [("from-trunk", "3001", "Goto"), ("callrouter-inbound", "3001", "AGI"),
          ("callrouter-inbound", "3001", "Goto"), ("callrouter-step", "dial-1", "Dial")]
"""The shipped dialplan's walk of a call routed to one dial step: the trunk's Goto, the AGI, one Goto, the Dial."""

CASES = {
    # case: (From user, From display name, P-Asserted-Identity, caller ID Asterisk reads, name, E.164)
    "PAI E.164 behind an anonymous From": ("anonymous", "Anonymous", '"Anna Volkova" <sip:+79031110001@127.0.0.1>',
                                           "+79031110001", "Anna Volkova", "+79031110001"),
    "PAI national, user=phone": ("anonymous", "", '"Boris" <sip:89031110002@127.0.0.1;user=phone>',
                                 "89031110002", "Boris", "+79031110002"),
    "PAI tel URI": ("+79031119999", "Switchboard", '"Vera" <tel:+79031110003>', "+79031110003", "Vera",
                    "+79031110003"),
    "From E.164": ("+79031110004", "Gleb", None, "+79031110004", "Gleb", "+79031110004"),
    "From national": ("89031110005", "Dina", None, "89031110005", "Dina", "+79031110005"),
    "From E.164 without the plus": ("79031110006", "", None, "79031110006", "", "+79031110006"),
}


@pytest.mark.parametrize("case", CASES)
async def test_the_caller_is_identified_from_the_trunks_caller_id(sip, case):
    user, display, pai, raw, name, number = CASES[case]
    agent = await sip.phone("111", answers(after=0.3, talk=0.5))
    call = await sip.trunk_call("3001", user, display, pai=pai)

    result = await call.result()
    assert (result.status, result.code) == (0, 200), result.messages
    d = await sip.decision(number)
    assert (d["call"]["callerid"], d["caller"]["name"], d["call"]["dnid"]) == (raw, name, "3001")
    assert d["rule"] == "a trunk call reaches an agent" and d["caller"]["kind"] == "new"
    assert [(s["type"], s["dest"]) for s in d["steps"]] == [("dial", "PJSIP/111")]
    assert sip.walk(await sip.channel_of(raw)) == ROUTED
    o = await sip.outcome(number)
    assert (o["result"], o["by"], o["decision"]) == ("answered", "PJSIP/111", d["id"])
    record = await sip.raw_call(d["id"])
    assert (record["number"], record["result"], record["by"], record["rule"]) == \
        (number, "answered", "PJSIP/111", "a trunk call reaches an agent")
    [invite] = agent.invites()
    assert f"<sip:{raw}@" in invite.header("From")
