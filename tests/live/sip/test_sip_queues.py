"""Queues with real phones: a member on a call is not rung (`ringinuse = no`, as asterisk/queues.conf
ships), whether the member is the phone itself (PJSIP/101) or, as FreePBX writes members, a Local
channel through `from-queue` whose state is the extension's hint (Local/104@from-queue/n,
state interface hint:104@ext-local). The router records who answered, and for a FreePBX-style
member the state interface too (what `last_agent` routing finds the manager by)."""

from __future__ import annotations

import re

from router.asterisk.calltracker import device_of
from tests.helpers import ROOT
from tests.live.sip.phones import Phone, answers
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST

BUSY_MEMBER = "2"
"""QueueMemberStatus Status: AST_DEVICE_INUSE."""


def member_in_use(queue: str, interface: str):
    return lambda e: (e.get("Event") == "QueueMemberStatus" and e.get("Queue") == queue
                      and e.get("Interface") == interface and e.get("Status") == BUSY_MEMBER)


def rung(sip, queue: str, channel: str) -> list[str]:
    """The members the queue rang for the caller on `channel` (AgentCalled)."""
    return [e["Interface"] for e in sip.events("AgentCalled", Queue=queue, Channel=channel)]


def test_the_shipped_queues_do_not_ring_a_member_in_use():
    defaults = (ROOT / "asterisk" / "queues.conf").read_text().split("[queue-defaults](!)", 1)[1].split("\n\n")[0]
    assert re.search(r"^ringinuse = no$", defaults, re.M)


async def call_while_a_member_talks(sip, queue: str, did: str, number: str, talking: tuple[str, str],
                                    idle: str) -> tuple[Phone, str]:
    """Extension talking[0] (queue member talking[1]) on a call with a colleague (107), extension `idle`
    free; once the queue reads the member in use, `number` calls `did` (routed to `queue`) and is
    answered. The talking phone, and the caller's channel."""
    ext, member = talking
    on_call = await sip.phone(ext, answers(after=0.2, talk=None))
    await sip.phone(idle, answers(after=0.5, talk=0.5))
    await sip.phone_call("107", ext)
    await sip.event(member_in_use(queue, member))
    call = await sip.trunk_call(did, number, talk=0.5)
    assert (await call.result()).code == 200
    return on_call, await sip.channel_of(number)


async def test_a_queue_does_not_ring_a_sip_member_on_a_call(sip):
    on_call, channel = await call_while_a_member_talks(sip, "new-connection", "3004", "+79031110301",
                                                       ("101", "PJSIP/101"), "102")
    assert ("callrouter-step", "queue-1", "Queue") in sip.walk(channel)
    assert rung(sip, "new-connection", channel) == ["PJSIP/102"]
    o = await sip.outcome("+79031110301")
    assert (o["result"], o["queue"], o["by"]) == ("answered", "new-connection", "PJSIP/102")
    assert len(on_call.invites()) == 1, "only the colleague's call"


async def test_a_freepbx_style_member_is_not_rung_while_its_phone_is_on_a_call(sip):
    on_call, channel = await call_while_a_member_talks(sip, "freepbx-style", "3005", "+79031110401",
                                                       ("104", "Local/104@from-queue/n"), "106")
    assert rung(sip, "freepbx-style", channel) == ["Local/106@from-queue/n"]
    answered = [device_of(dest) for dest, status in sip.dials(channel) if status == "ANSWER"]
    assert answered == ["Local/106@from-queue"]
    o = await sip.outcome("+79031110401")
    assert (o["result"], o["queue"]) == ("answered", "freepbx-style")
    assert (o["by"], o["by_state"]) == ("Local/106@from-queue/n", "hint:106@ext-local")
    assert await sip.r.hget(sip.keys.state("+79031110401"), "agent_state") == "hint:106@ext-local"
    assert len(on_call.invites()) == 1, "only the colleague's call"
