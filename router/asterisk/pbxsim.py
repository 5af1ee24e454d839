"""A simulated PBX: plays what happens to a call as the AMI events a real Asterisk sends.

The shapes follow the recordings of Asterisk 22 in tests/fixtures (a trunk channel per caller,
Linkedid = the caller's Uniqueid): a dial is Newchannel, DialBegin, DialEnd ANSWER|BUSY|
NOANSWER|CANCEL; a queue adds QueueCallerJoin, AgentCalled, AgentConnect, QueueCallerLeave and AgentComplete,
and a queue timeout sends QueueCallerAbandon as a caller who gave up does; the routed leg
is named by Asterisk's AGIExecEnd for the router's answer, and a call whose every step failed
sends the walker's UserEvent `callrouter` with `Result: failed` (dialplans/callrouter.conf); a
caller in a generated menu is answered there (`Newstate Up`) and sends the menus' UserEvents, and
an ask again is one more AGIExecEnd on the same leg; a click-to-call callback rings the agent
first, then dials the customer's number through the trunk. Time is simulated: `speed` simulated
seconds pass per real second, so a day's ring and talk times play in moments.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from router.asterisk import variables as V
from router.asterisk.amisim import AMIServer, block
from router.asterisk.mset import ANSWER_START
from router.core.menus import menu_context

TRUNK = "PJSIP/trunk"


@dataclass(frozen=True, slots=True)
class Press:
    """A caller in a menu: listens `listen` seconds, then leaves it by `key` (a key, `timeout`, `invalid`,
    `input`), or hangs up in it (`key` empty)."""

    menu: str
    key: str
    listen: float = 4.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step of the route as the PBX plays it.

    `result`: `answer` (talks `talk` seconds after ringing `ring`), `busy`, `noanswer` (rang out),
    `timeout` (a queue waited `ring` seconds) or `hangup` (the caller gave up after `ring`).
    """

    kind: str  # dial | queue | ivr
    dest: str  # dial string, queue name or IVR context
    result: str
    ring: float = 0.0
    talk: float = 0.0
    member: str = ""  # the queue member who rings


class SimulatedPBX:
    def __init__(self, ami: AMIServer, speed: float = 1.0, epoch: int = 1795400000):
        self.ami = ami
        self.speed = speed
        self._ids = itertools.count(1)
        self._epoch = epoch

    def _channel(self, device: str) -> tuple[str, str]:
        n = next(self._ids)
        return f"{device}-{n:08x}", f"{self._epoch}.{n}"

    async def _send(self, *events: dict) -> None:
        for e in events:  # the channels alive now, as CoreShowChannels lists them after a reconnect
            if e["Event"] == "Newchannel":
                self.ami.channels.append({"Channel": e["Channel"], "Uniqueid": e["Uniqueid"],
                                          "Linkedid": e["Linkedid"]})
            elif e["Event"] == "Hangup":
                self.ami.channels = [c for c in self.ami.channels if c["Uniqueid"] != e["Uniqueid"]]
        await self.ami.push(b"".join(block(*e.items()) for e in events))

    async def _wait(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)

    async def set_state(self, device: str, state: str) -> None:
        self.ami.devices[device] = state
        await self._send({"Event": "DeviceStateChange", "Device": device, "State": state})

    async def inbound(self, number: str, decision: str, attempts: list[Attempt]) -> None:
        """An inbound call on the trunk, routed by `decision`, walking `attempts` until one ends it."""
        await self.walk(await self.arrive(number, decision), decision, attempts)

    async def arrive(self, number: str, decision: str) -> dict:
        """A call on the trunk that the router answered with `decision`: the caller's leg, for what follows."""
        chan, uid = self._channel(TRUNK)
        caller = {"Channel": chan, "CallerIDNum": number if number != "anonymous" else "<unknown>",
                  "Uniqueid": uid, "Linkedid": uid}
        await self._send({"Event": "Newchannel", **caller, "ChannelStateDesc": "Ring"})
        await self.routed(caller, decision)
        return caller

    async def routed(self, caller: dict, decision: str) -> None:
        """The router's answer ran on the caller's leg (the first ask, or an ask again from a menu)."""
        answer = f'{ANSWER_START}{decision},{V.RULE}=…"'
        await self._send({"Event": "AGIExecEnd", **caller, "CommandId": "1", "Command": answer, "ResultCode": "200",
                          "Result": "Success"})

    async def in_menus(self, caller: dict, presses: list[Press]) -> bool:
        """The caller in the generated menus: each press enters a menu, listens, and leaves it by its key;
        a press without one hangs up there. True when the caller hung up."""
        for n, press in enumerate(presses):
            if n == 0:  # the menu's Answer()
                await self._send({"Event": "Newstate", **caller, "ChannelState": "6", "ChannelStateDesc": "Up",
                                  "Context": menu_context(press.menu), "Exten": "s"})
            await self._send({"Event": "UserEvent", **caller, "UserEvent": V.USER_EVENT, V.MENU_EVENT: press.menu})
            await self._wait(press.listen)
            if not press.key:
                await self._send({"Event": "Hangup", **caller, "Cause": "16"})
                return True
            await self._send({"Event": "UserEvent", **caller, "UserEvent": V.USER_EVENT, V.MENU_EVENT: press.menu,
                              V.KEY_EVENT: press.key})
        return False

    async def walk(self, caller: dict, decision: str, attempts: list[Attempt]) -> None:
        """The chain's steps on the caller's leg until one ends the call, then its hangup."""
        done = False
        for a in attempts:
            if a.kind == "ivr":  # the IVR's dialplan answers the caller's channel itself
                await self._wait(a.ring)
                await self._send({"Event": "Newstate", **caller, "ChannelState": "6", "ChannelStateDesc": "Up",
                                  "Context": a.dest, "Exten": "s"})
                await self._wait(a.talk)
                break
            done = await (self._queue(caller, a) if a.kind == "queue" else self._dial(caller, a, a.dest))
            if done:
                break
        else:  # the walker's `failed` extension: every step was busy, unanswered or timed out
            if attempts:
                last = attempts[-1]
                status = {"busy": "BUSY", "noanswer": "NOANSWER"}.get(last.result, "")
                await self._send({"Event": "UserEvent", **caller, "UserEvent": V.USER_EVENT, "Decision": decision,
                                  "Result": "failed", "DialStatus": status if last.kind == "dial" else "",
                                  "QueueStatus": "TIMEOUT" if last.kind == "queue" else ""})
        await self._send({"Event": "Hangup", **caller, "Cause": "16"})

    async def _dial(self, caller: dict, a: Attempt, device: str, queue: str = "") -> bool:
        """Ring `device` from the caller's leg; True when the call ended there (answered or given up)."""
        chan, uid = self._channel(device)
        dest = {"DestChannel": chan, "DestUniqueid": uid}
        leg = {"Channel": chan, "CallerIDNum": device.rsplit("/", 1)[-1], "Uniqueid": uid,
               "Linkedid": caller["Linkedid"]}
        begin = {"Event": "DialBegin", **caller, **dest, "DialString": device.split("/", 1)[-1]}
        if queue:
            await self._send({"Event": "Newchannel", **leg},
                             {"Event": "AgentCalled", **caller, **dest, "Queue": queue, "Interface": device}, begin)
        else:
            await self._send({"Event": "Newchannel", **leg}, begin)
        if a.result == "busy":
            await self._send({"Event": "DialEnd", **caller, **dest, "DialStatus": "BUSY"}, {"Event": "Hangup", **leg})
            return False
        await self._wait(a.ring)
        if a.result != "answer":
            status = "CANCEL" if a.result == "hangup" else "NOANSWER"
            events = [{"Event": "DialEnd", **caller, **dest, "DialStatus": status}, {"Event": "Hangup", **leg}]
            if a.result == "timeout":  # app_queue: the member's NOANSWER, then CANCEL as the queue gives up
                events.insert(1, {"Event": "DialEnd", **caller, **dest, "DialStatus": "CANCEL"})
            await self._send(*events)
            return a.result == "hangup"
        answered = [{"Event": "DialEnd", **caller, **dest, "DialStatus": "ANSWER"}]
        if queue:
            answered += [{"Event": "QueueCallerLeave", **caller, "Queue": queue},
                         {"Event": "AgentConnect", **caller, **dest, "Queue": queue, "Interface": device,
                          "HoldTime": str(round(a.ring)), "RingTime": str(round(a.ring))}]
        await self._send(*answered, {"Event": "BridgeEnter", **leg}, {"Event": "BridgeEnter", **caller})
        await self.set_state(device, "INUSE")
        await self._wait(a.talk)
        if queue:
            await self._send({"Event": "AgentComplete", **caller, **dest, "Queue": queue, "Interface": device,
                              "HoldTime": str(round(a.ring)), "TalkTime": str(round(a.talk)), "Reason": "caller"})
        await self._send({"Event": "Hangup", **leg})
        await self.set_state(device, "NOT_INUSE")
        return True

    async def _queue(self, caller: dict, a: Attempt) -> bool:
        await self._send({"Event": "QueueCallerJoin", **caller, "Queue": a.dest, "Position": "1"})
        done = await self._dial(caller, a, a.member or f"Local/{a.dest}-member@agents", queue=a.dest)
        if a.result in ("timeout", "hangup"):
            await self._send({"Event": "QueueCallerAbandon", **caller, "Queue": a.dest},
                             {"Event": "QueueCallerLeave", **caller, "Queue": a.dest})
        return done

    async def callback(self, agent: str, number: str, answered: bool, ring: float, talk: float = 0.0) -> None:
        """Click-to-call: Originate rings the agent, who answers; then the trunk dials the customer."""
        achan, auid = self._channel(agent)
        agent_leg = {"Channel": achan, "CallerIDNum": agent.rsplit("/", 1)[-1], "Uniqueid": auid, "Linkedid": auid}
        await self._send({"Event": "Newchannel", **agent_leg},
                         {"Event": "DialBegin", "DestChannel": achan, "DestUniqueid": auid, "DestLinkedid": auid,
                          "DestExten": "s",
                          "DialString": agent.split("/", 1)[-1]})
        await self._wait(3)
        tchan, tuid = self._channel(TRUNK)
        trunk_leg = {"Channel": tchan, "CallerIDNum": number, "Uniqueid": tuid, "Linkedid": auid}
        dest = {"DestChannel": tchan, "DestUniqueid": tuid, "DestExten": number}
        await self._send({"Event": "DialEnd", "DestChannel": achan, "DestUniqueid": auid, "DestLinkedid": auid,
                          "DialStatus": "ANSWER"},
                         {"Event": "Newchannel", **trunk_leg},
                         {"Event": "DialBegin", **agent_leg, **dest, "DialString": f"trunk/{number}"})
        await self._wait(ring)
        await self._send({"Event": "DialEnd", **agent_leg, **dest,
                          "DialStatus": "ANSWER" if answered else "NOANSWER"})
        if answered:
            await self._wait(talk)
        await self._send({"Event": "Hangup", **trunk_leg}, {"Event": "Hangup", **agent_leg})
