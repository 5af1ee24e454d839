"""The whisper read back from a real Asterisk channel: the router's one MSet sets CALLERID(name) to the prefix
and the caller's name, which the Dial presents to the agent's phone (the dialed channel's connected line, what
a SIP phone gets in the INVITE's From); the trunk's name stays in ROUTE_CALLER_NAME; Cyrillic and hostile
text arrive whole, bounded."""

from __future__ import annotations

import base64

from tests.live.stack import needs_asterisk

pytestmark = needs_asterisk


def dialing(number: str):
    return lambda e: (e.get("Event") == "DialBegin" and e.get("CallerIDNum") == number
                      and e.get("DestChannel", "").startswith("Local/ok1@live-agents"))


async def test_the_agents_phone_is_shown_the_whisper_before_the_callers_name(live, ami, outcomes):
    await ami.call("2011", "+79030000111", "Anna")
    dial = await ami.wait_for(dialing("+79030000111"))
    assert dial["CallerIDName"] == "[live][new] Anna", "the caller's channel, as the router set it"
    assert dial["DestConnectedLineName"] == "[live][new] Anna", "what the dialed phone is shown (its connected line)"
    kept = await ami.action("Getvar", Channel=dial["Channel"], Variable="ROUTE_CALLER_NAME")
    assert kept.get("Value") == "Anna", dict(kept)
    await outcomes("+79030000111")


async def test_a_cyrillic_and_hostile_name_arrives_whole_and_bounded(live, ami, outcomes):
    name = 'Ёлкин "Пётр", ${EXTEN} (x) и ещё длинное имя'
    await ami.call("2011", "+79030000112", context="live-trunk-named",
                   NAME_B64=base64.b64encode(name.encode()).decode())
    dial = await ami.wait_for(dialing("+79030000112"))
    shown = dial["DestConnectedLineName"].replace('\\"', '"')  # AMI writes a quote in a name as \"
    assert shown == ("[live][new] " + name)[:40] and "${EXTEN} (x)" in shown
    await outcomes("+79030000112")
