"""SIPp processes that play the SIP trunk's callers, the agents' phones and the customers we call back.

Every process is started here with a scenario of tests/live/sip/scenarios/ (rendered with its
parameters), on private ports of 127.0.0.1, and stopped by its PID. Facts of SIPp 3.6.1 this
relies on (checked on this machine):
- `-m 1` ends a caller after its one call; exit status 0 = every call successful, 1 = one failed.
  A phone (a UAS) has no end: it is stopped by its PID (SIGTERM; SIPp has no graceful stop).
- `-trace_msg -message_file F` writes each message sent and received as it goes (the tests read
  the final response a caller got, and what a phone was sent, from it).
- SIPp binds its SIP port (`-p`), an RTP echo port (`-mp`) and the one 2 above it, and a UDP
  control socket (`-cp`; default 0.0.0.0:8888): all four are given, on 127.0.0.1.
- A phone's calls go where its REGISTER's Contact points (rewrite_contact off): the phone's
  SIPp listens there, another SIPp process sends the REGISTER.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
HOST = "127.0.0.1"
CALL_LIMIT = 120
"""Seconds after which a caller's SIPp gives up (-timeout): a safety net, not a test's wait."""


def bindable(port: int) -> bool:
    """Nothing holds `port` on 127.0.0.1, UDP or TCP."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


class Ports:
    """Private ports, handed out upwards from a random start; each checked free when it is taken.

    Below Linux's ephemeral range (32768 up): there every client connection holds a port, and a
    run of free ones for RTP is hard to find."""

    LOW, HIGH = 20000, 32000

    def __init__(self) -> None:
        self.next = random.randrange(self.LOW, self.HIGH - 4000)

    def take(self, span: int = 1) -> int:
        """The first of `span` consecutive free ports."""
        while self.next + span < self.HIGH:
            first = self.next
            if all(bindable(p) for p in range(first, first + span)):
                self.next = first + span
                return first
            self.next += 1
        raise RuntimeError(f"no {span} free ports left below {self.HIGH}")


class Held:
    """Ports that stay ours between uses: a bound UDP socket holds each while no SIPp process has it,
    so that no other process on the machine (another test run's SIPp) takes a port that Asterisk's
    config names (the trunk's identify, its AOR's contact)."""

    def __init__(self, ports: list[int]) -> None:
        self.sockets: dict[int, socket.socket] = {}
        for port in ports:
            assert self.hold(port), f"port {port} was taken before it could be held"

    def hold(self, port: int) -> bool:
        """Hold `port` again (its SIPp has ended); False if something else has it."""
        if port in self.sockets:
            return True
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((HOST, port))
        except OSError:
            s.close()
            return False
        self.sockets[port] = s
        return True

    def release(self, port: int) -> None:
        """Let go of `port`, for the SIPp process about to bind it."""
        s = self.sockets.pop(port, None)
        if s is not None:
            s.close()

    def close(self) -> None:
        for port in list(self.sockets):
            self.release(port)


@dataclass(frozen=True)
class SipMessage:
    """One SIP message a SIPp process sent or received."""

    received: bool
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def status(self) -> int | None:
        m = re.match(r"SIP/2\.0 (\d{3})", self.first_line)
        return int(m.group(1)) if m else None

    @property
    def method(self) -> str:
        return "" if self.status is not None else self.first_line.split(" ", 1)[0]

    def header(self, name: str) -> str:
        """The first value of header `name` (case-insensitive), or empty."""
        m = re.search(rf"^{re.escape(name)}\s*:\s*(.*?)\s*$", self.text, re.M | re.I)
        return m.group(1) if m else ""

    @property
    def cseq_method(self) -> str:
        return self.header("CSeq").split(" ")[-1]


_MESSAGE = re.compile(r"^-{20,} [^\n]*\n(UDP|TCP) message (sent|received)[^\n]*\n\n(.*?)(?=^-{20,} |\Z)", re.M | re.S)


def read_messages(path: Path) -> list[SipMessage]:
    """The messages of a SIPp message log, in order."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return [SipMessage(m.group(2) == "received", m.group(3).strip()) for m in _MESSAGE.finditer(text)]


def render(scenario: str, **params: object) -> str:
    """A scenario of tests/live/sip/scenarios/ with its {placeholders} filled."""
    return (SCENARIOS / f"{scenario}.xml").read_text().format(**params)


def wait_attribute(ms: float | None, label: str) -> str:
    """A `<recv>`'s timeout: jump to `label` after `ms` milliseconds; None waits for ever."""
    return "" if ms is None else f' timeout="{round(ms)}" ontimeout="{label}"'


@dataclass
class Sipp:
    """One SIPp process: a scenario, its SIP port, its files in `folder` (NAME.xml, .messages, .errors, .out)."""

    name: str
    folder: Path
    scenario: str
    port: int
    ports: Ports
    args: list[str] = field(default_factory=list)
    proc: asyncio.subprocess.Process | None = None

    @property
    def message_file(self) -> Path:
        return self.folder / f"{self.name}.messages"

    async def start(self) -> Sipp:
        sf = self.folder / f"{self.name}.xml"
        sf.write_text(self.scenario)
        media, control = self.ports.take(span=4), self.ports.take()
        command = [SIPP, "-sf", str(sf), "-i", HOST, "-p", str(self.port), "-mi", HOST, "-mp", str(media),
                   "-ci", HOST, "-cp", str(control), "-nostdin", "-aa", "-trace_msg", "-message_file",
                   str(self.message_file), "-trace_err", "-error_file", str(self.folder / f"{self.name}.errors"),
                   *self.args]
        with open(self.folder / f"{self.name}.out", "wb") as out:
            self.proc = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                                                             stderr=asyncio.subprocess.STDOUT)
        return self

    async def listening(self, timeout: float = 10.0) -> None:
        """Returns once SIPp holds its SIP port (a phone must before Asterisk sends it anything)."""
        async with asyncio.timeout(timeout):
            while not udp_bound(self.port):
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"sipp {self.name} exited at start: {self.output()[-1500:]}")
                await asyncio.sleep(0.02)

    async def wait(self, timeout: float = 60.0) -> int:
        """Its exit status, once it has ended by itself."""
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            return await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM to its PID, SIGKILL if it is still there 5 s later."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(5):
                await self.proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    def messages(self) -> list[SipMessage]:
        return read_messages(self.message_file)

    def output(self) -> str:
        parts = []
        for suffix in ("out", "errors"):
            path = self.folder / f"{self.name}.{suffix}"
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def udp_bound(port: int) -> bool:
    """Some socket is bound to UDP `port` (read from /proc/net/udp: a probe bind could take the port
    from under the process about to bind it)."""
    lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    return any(int(line.split()[1].rsplit(":", 1)[1], 16) == port for line in lines)
