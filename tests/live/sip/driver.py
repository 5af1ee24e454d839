"""What one test drives on the SIP stack: phones, calls, and what Asterisk and the router saw of them.

    phone = await sip.phone("111", answers(after=0.5, talk=1))      # registered, the router knows it idle
    call = await sip.trunk_call("3001", "+79031110001", pai='"Anna" <sip:+79031110001@127.0.0.1>')
    assert (await call.result()).code == 200                          # the trunk's final response
    d = await sip.decision("+79031110001")                            # the router's decision log
    o = await sip.outcome("+79031110001")                             # the outcome it recorded (AMI)
    sip.walk(await sip.channel_of("+79031110001"))                    # the dialplan's walk (Newexten)

Everything a test starts is stopped when it ends (the fixture `sip`): channels still up are hung
up, phones unregister, every SIPp process is stopped by its PID. Tests call from numbers of their
own and use extensions of their own, so they do not see each other's calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

from router.asterisk.amiwire import Message
from router.state.factory import open_store
from router.state.keys import Keys
from tests.live.sip.phones import Behaviour, Call, Phone, answers
from tests.live.sip.sipp import HOST
from tests.live.sip.stack import SipStack
from tests.live.stack import AMIClient

WAIT = 30.0
"""Seconds a test waits for something the stack is doing: generous, a loaded 2-core machine is slow."""


class Sip:
    def __init__(self, stack: SipStack, folder: Path) -> None:
        self.stack = stack
        self.folder = folder
        self.ami = AMIClient()
        self.keys = Keys(stack.prefix)
        self.r = aioredis.from_url(stack.redis_url, decode_responses=True)
        self.store = open_store(stack.redis_url, stack.prefix)
        self.phones: list[Phone] = []
        self.calls: list[Call] = []
        self._trunk: dict[int, Call] = {}
        self._count = 0

    async def open(self) -> Sip:
        await self.ami.connect(self.stack.asterisk.ami_port)
        return self

    async def close(self) -> None:
        """Hang up what is still up, unregister and stop the phones, stop every SIPp process; each is
        tried whatever happened to the others, and the first failure is raised after."""
        failures: list[BaseException] = []
        registered = [p.ext for p in self.phones if p.registered]
        for step in (self.hangup_all, *(x.stop for x in [*self.phones, *self.calls])):
            try:
                await step()
            except Exception as e:
                failures.append(e)
        for port in [*self._trunk, self.stack.customer_port]:
            self.stack.held.hold(port)
        try:
            for ext in registered:  # the next test starts from the state the router will have read
                await self.device_state(f"PJSIP/{ext}", "UNAVAILABLE")
        finally:
            await self.ami.close()
            await self.r.aclose()
            await self.store.close()
        if failures:
            raise failures[0]

    def _name(self, what: str) -> str:
        self._count += 1
        return f"{self._count:02d}-{what}"

    # phones and calls

    async def phone(self, ext: str, behaviour: Behaviour | None = None, register: bool = True) -> Phone:
        """The phone of extension `ext`, listening; registered unless told not to, and then known idle
        to the router (so a test's first call sees the state a real phone would have)."""
        phone = Phone(ext, behaviour or answers(), self.stack.sip_port, self.folder, self.stack.ports)
        self.phones.append(phone)
        await phone.start()
        if register:
            await phone.register()
            await self.device_state(f"PJSIP/{ext}", "NOT_INUSE")
        return phone

    async def customer(self, behaviour: Behaviour | None = None) -> Phone:
        """The customer's phone at the far end of the trunk: where our outbound calls ring."""
        phone = Phone("customer", behaviour or answers(), self.stack.sip_port, self.folder, self.stack.ports,
                      port=self.stack.customer_port)
        self.phones.append(phone)
        self.stack.held.release(phone.port)
        await phone.start()
        return phone

    async def trunk_call(self, to: str, caller: str, name: str = "", pai: str | None = None,
                         talk: float | None = None, headers: tuple[str, ...] = (),
                         press_1_after: float | None = None) -> Call:
        """A call from the trunk to `to`: From `"name" <sip:caller@…>`, P-Asserted-Identity `pai` when given
        (the whole header value: `"Anna" <sip:+79031110001@host>`, `<tel:+79031110001>`); the caller hangs up
        after `talk` seconds of conversation (None: when Asterisk does); with `press_1_after`, he waits
        unanswered (a queue) and presses 1 after that many seconds."""
        port = await self._free_trunk_port()
        shown = f'"{name}" ' if name else ""
        extra = ([f"P-Asserted-Identity: {pai}"] if pai else []) + list(headers)
        call = Call(to, f"{shown}<sip:{caller}@{HOST}>", caller, extra, talk, self.stack.sip_port, port,
                    self.folder, self.stack.ports, self._name(f"trunk-{caller.lstrip('+')}"),
                    press_1_after=press_1_after)
        self._trunk[port] = call
        self.calls.append(call)
        self.stack.held.release(port)
        return await call.start()

    async def phone_call(self, ext: str, to: str, talk: float | None = None) -> Call:
        """Extension `ext` dials `to` from its phone (the shipped [internal] context: 1XX, 8XXXXXXXXXX, +X.)."""
        call = Call(to, f'"Agent {ext}" <sip:{ext}@{HOST}>', ext, [], talk, self.stack.sip_port,
                    self.stack.ports.take(), self.folder, self.stack.ports, self._name(f"phone-{ext}-calls"))
        self.calls.append(call)
        return await call.start()

    async def _free_trunk_port(self) -> int:
        """One of the ports the trunk's identify matches, whose last caller has ended (held again meanwhile)."""
        async with asyncio.timeout(WAIT):
            while True:
                for port in self.stack.trunk_ports:
                    call = self._trunk.get(port)
                    if call is None or call.ended():
                        self._trunk.pop(port, None)
                        assert self.stack.held.hold(port), f"trunk port {port} was taken by another process"
                        return port
                await asyncio.sleep(0.1)

    # what Asterisk saw

    async def event(self, match: Callable[[Message], bool], timeout: float = WAIT) -> Message:
        return await self.ami.wait_for(match, timeout)

    def events(self, name: str, **fields: str) -> list[Message]:
        """The AMI events so far named `name` whose fields start with the values given."""
        return [e for e in self.ami.events if e.get("Event") == name
                and all(e.get(k, "").startswith(v) for k, v in fields.items())]

    async def channel(self, prefix: str) -> str:
        """The first channel whose name starts with `prefix` (`PJSIP/123-`: the call extension 123 placed)."""
        e = await self.event(lambda e: e.get("Event") == "Newchannel" and e.get("Channel", "").startswith(prefix))
        return e["Channel"]

    async def channel_of(self, caller_id: str) -> str:
        """The trunk channel whose caller ID is `caller_id` (as Asterisk read it: PAI or From user)."""
        e = await self.event(lambda e: e.get("Event") == "Newchannel" and e.get("CallerIDNum") == caller_id
                             and e.get("Channel", "").startswith("PJSIP/trunk-"))
        return e["Channel"]

    def walk(self, channel: str) -> list[tuple[str, str, str]]:
        """The dialplan priorities `channel` ran: (context, extension, application)."""
        return [(e["Context"], e["Extension"], e["Application"]) for e in self.ami.events
                if e.get("Event") == "Newexten" and e.get("Channel") == channel]

    def dials(self, channel: str) -> list[tuple[str, str]]:
        """The dials `channel` made: (destination channel, DialStatus) of each DialEnd."""
        return [(e["DestChannel"], e.get("DialStatus", "")) for e in self.events("DialEnd", Channel=channel)]

    async def hangup(self, channel: str) -> None:
        reply = await self.ami.action("Hangup", Channel=channel, Cause="16")
        assert reply.get("Response") == "Success", dict(reply)

    async def hangup_all(self) -> None:
        """Hang up every channel still up and wait until none is left."""
        async with asyncio.timeout(WAIT):
            while channels := await self._channels():
                for ch in channels:
                    await self.ami.action("Hangup", Channel=ch, Cause="16")
                await asyncio.sleep(0.2)

    async def _channels(self) -> list[str]:
        out = self.stack.asterisk.cli("core show channels concise")
        return [line.split("!", 1)[0] for line in out.splitlines() if "!" in line]

    # what the router saw and recorded

    async def device_state(self, device: str, state: str, timeout: float = WAIT) -> None:
        """Returns once the router's store holds `state` for `device` (from AMI DeviceStateChange)."""
        async with asyncio.timeout(timeout):
            while await self.r.hget(self.keys.devstate, device) != state:
                await asyncio.sleep(0.05)

    async def busy(self, device: str, timeout: float = WAIT) -> str:
        """Returns once the router counts `device` busy; the state it read."""
        async with asyncio.timeout(timeout):
            while not await self.r.sismember(self.keys.busy, device):
                await asyncio.sleep(0.05)
        return await self.r.hget(self.keys.devstate, device)

    async def decision(self, number: str, timeout: float = WAIT) -> dict:
        """The router's decision for a call from `number` (its decision log in Redis)."""
        async with asyncio.timeout(timeout):
            while True:
                for _, fields in await self.r.xrange(self.keys.decisions):
                    d = json.loads(fields["d"])
                    if d.get("caller", {}).get("number") == number:
                        return d
                await asyncio.sleep(0.1)

    async def outcome(self, number: str, direction: str = "inbound", timeout: float = WAIT) -> dict:
        """How the router recorded the call of `number` ended (its outcomes stream, from AMI)."""
        async with asyncio.timeout(timeout):
            while True:
                for _, fields in await self.r.xrange(self.keys.outcomes):
                    o = json.loads(fields["o"])
                    if o["number"] == number and o["direction"] == direction:
                        return o
                await asyncio.sleep(0.1)

    async def raw_call(self, key: str) -> dict:
        """The report's raw record of a call (`key`: its decision id, else `linkedid:direction:number`)."""
        async for day in self.r.scan_iter(match=f"{self.stack.prefix}:calls:*"):
            found = await self.r.hget(day, key)
            if found:
                return json.loads(found)
        raise AssertionError(f"no raw call record {key} in the report")
