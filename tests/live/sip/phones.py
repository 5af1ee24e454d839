"""Agents' phones and calls, as SIPp plays them: what a test asks for, in its words.

A phone is an extension (a PJSIP endpoint of the test Asterisk) with a behaviour: `answers(after,
talk)`, `rings()` (until the call is cancelled), `refuses(486)`. It registers its contact, so its
device state comes from Asterisk's registrar and calls, as a real phone's does: UNAVAILABLE until
it registers, NOT_INUSE registered, RINGING, INUSE in a call, UNAVAILABLE after it unregisters.

A call is one INVITE to Asterisk from a SIPp caller: from the trunk (its source port is one the
trunk endpoint's `identify` matches; caller ID in From and/or P-Asserted-Identity) or from a phone
(identified by its From user). Its `result()` is the final SIP response it got.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.live.sip.sipp import CALL_LIMIT, HOST, Ports, SipMessage, Sipp, render, wait_attribute


@dataclass(frozen=True)
class Behaviour:
    """A phone's scenario and its parameters."""

    scenario: str
    params: dict = field(default_factory=dict)

    def render(self) -> str:
        return render(self.scenario, **self.params)


def answers(after: float = 0.5, talk: float | None = 1.0) -> Behaviour:
    """Rings `after` seconds, answers, hangs up after `talk` seconds (None: when the other side does)."""
    return Behaviour("phone", {"answer_wait": wait_attribute(after * 1000, "answer"),
                               "talk_wait": wait_attribute(None if talk is None else talk * 1000, "hangup")})


def rings() -> Behaviour:
    """Rings until the call is cancelled (nobody at the desk)."""
    return Behaviour("phone", {"answer_wait": "", "talk_wait": ""})


def refuses(code: int = 486, reason: str = "Busy Here") -> Behaviour:
    """Answers every call with `code` at once (486: on another call without call waiting, or "reject")."""
    return Behaviour("refuse", {"code": code, "reason": reason})


@dataclass
class Phone:
    """An agent's phone: its SIPp process listens on `port`; `register()` points the extension there."""

    ext: str
    behaviour: Behaviour
    sip_port: int
    folder: Path
    ports: Ports
    port: int = 0
    process: Sipp | None = None
    registered: bool = False

    async def start(self) -> Phone:
        self.port = self.port or self.ports.take()
        self.process = Sipp(f"phone-{self.ext}", self.folder, self.behaviour.render(), self.port, self.ports,
                            ["-s", self.ext])
        await self.process.start()
        await self.process.listening()
        return self

    async def register(self, expires: int = 3600) -> None:
        """REGISTER (a contact at this phone's port); `expires=0` removes it. Fails the test if not 200."""
        name = f"register-{self.ext}-{'on' if expires else 'off'}"
        reg = Sipp(name, self.folder, render("register", contact_port=self.port, expires=expires),
                   self.ports.take(), self.ports, ["-s", self.ext, "-m", "1", "-timeout", "20s", "-timeout_error",
                                                   f"{HOST}:{self.sip_port}"])
        await reg.start()
        status = await reg.wait(30)
        assert status == 0, f"REGISTER of {self.ext} (expires {expires}) failed ({status}): {reg.output()[-1500:]}"
        self.registered = expires > 0

    async def unregister(self) -> None:
        await self.register(expires=0)

    async def stop(self) -> None:
        """Unregistered (the extension reads UNAVAILABLE again), then the process stopped by its PID."""
        try:
            if self.registered:
                await self.unregister()
        finally:
            if self.process is not None:
                await self.process.stop()

    def invites(self) -> list[SipMessage]:
        """The INVITEs this phone was sent (one per call that rang it)."""
        return [m for m in self.messages() if m.received and m.method == "INVITE"]

    def messages(self) -> list[SipMessage]:
        return self.process.messages() if self.process is not None else []


@dataclass(frozen=True)
class CallResult:
    status: int
    """SIPp's exit status: 0 when the scenario went as written."""
    code: int | None
    """The final response to the INVITE (200 answered, 480, 486, …), None if there was none."""
    messages: list[SipMessage]

    @property
    def answered(self) -> bool:
        return self.code == 200


@dataclass
class Call:
    """One call into Asterisk, placed by a SIPp caller from `port`."""

    to: str
    from_header: str
    contact_user: str
    extra_headers: list[str]
    talk: float | None
    sip_port: int
    port: int
    folder: Path
    ports: Ports
    name: str
    process: Sipp | None = None
    press_1_after: float | None = None
    """Seconds after which the caller presses 1 (SIP INFO, dtmf-relay) while he waits unanswered in a queue."""

    async def start(self) -> Call:
        headers = "".join(f"      {h}\n" for h in self.extra_headers)
        if self.press_1_after is not None:
            scenario = render("press1", from_header=self.from_header, contact_user=self.contact_user,
                              press_after=round(self.press_1_after * 1000))
        else:
            scenario = render("call", from_header=self.from_header, contact_user=self.contact_user,
                              extra_headers=headers,
                              talk_wait=wait_attribute(None if self.talk is None else self.talk * 1000, "hangup"))
        self.process = Sipp(self.name, self.folder, scenario, self.port, self.ports,
                            ["-s", self.to, "-m", "1", "-timeout", f"{CALL_LIMIT}s", "-timeout_error",
                             f"{HOST}:{self.sip_port}"])
        await self.process.start()
        return self

    async def result(self, timeout: float = 60.0) -> CallResult:
        """Once the caller's SIPp has ended: its status and the final response it got."""
        assert self.process is not None
        status = await self.process.wait(timeout)
        messages = self.process.messages()
        finals = [m.status for m in messages if m.received and m.status and m.status >= 200
                  and m.cseq_method == "INVITE"]
        return CallResult(status, finals[-1] if finals else None, messages)

    def ended(self) -> bool:
        return self.process is not None and self.process.proc is not None and self.process.proc.returncode is not None

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()
