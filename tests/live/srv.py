"""Several routers behind one `hagi://` name: a DNS SRV responder and an Asterisk that asks it.

Asterisk's `hagi://NAME/script` looks up `_agi._tcp.NAME` SRV records on every call (res_agi's
launch_ha_netscript, through the C library's resolver, so /etc/resolv.conf decides which server
is asked) and connects to the targets in SRV order; a target that refuses or does not answer the
connect within 2 s is skipped, a router that fails once the session is open is not (the call
then has no ROUTE_1_TYPE and the walk takes the fallback queue).

So that no test touches the machine's resolver, this Asterisk runs in a mount namespace of its
own in which /etc/resolv.conf names a responder on a private loopback address. That needs root
(a mount namespace, port 53): elsewhere the tests using it skip and say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import redis.asyncio as aioredis

from tests.helpers import ROUTER_CMD, free_port, router_env, stop_processes
from tests.live.stack import AMI_SECRET, AMIClient, start_asterisk

ZONE = "callrouter.test."
SERVICE = "routers." + ZONE
"""`hagi://routers.callrouter.test/route`: Asterisk asks for `_agi._tcp.routers.callrouter.test`."""


def why_not() -> str | None:
    """Why SRV tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: Asterisk gets a private /etc/resolv.conf in a mount namespace, the responder port 53"
    if shutil.which("unshare") is None:
        return "needs unshare (util-linux) for a private /etc/resolv.conf"
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        return "this machine refuses mount namespaces (unshare -m), needed for a private /etc/resolv.conf"
    return None


@dataclass
class Target:
    host: str
    port: int
    priority: int = 10
    weight: int = 10


@dataclass
class SrvResponder(asyncio.DatagramProtocol):
    """Answers SRV for SERVICE with `targets` and A for their hosts (all 127.0.0.1); counts queries."""

    targets: list[Target] = field(default_factory=list)
    queries: int = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        self.queries += 1
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        q = query.question[0] if query.question else None
        name = q.name.to_text().lower() if q is not None else ""  # a question is an empty, falsy RRset
        if q is not None and q.rdtype == dns.rdatatype.SRV and name == "_agi._tcp." + SERVICE:
            reply.answer.append(dns.rrset.from_text_list(
                q.name, 5, dns.rdataclass.IN, dns.rdatatype.SRV,
                [f"{t.priority} {t.weight} {t.port} {t.host}" for t in self.targets]))
        elif q is not None and q.rdtype == dns.rdatatype.A and name.endswith(ZONE):
            reply.answer.append(dns.rrset.from_text_list(q.name, 5, dns.rdataclass.IN, dns.rdatatype.A,
                                                         ["127.0.0.1"]))
        elif q is not None and not name.endswith(ZONE):
            reply.set_rcode(dns.rcode.REFUSED)
        self.transport.sendto(reply.to_wire(), addr)


async def start_responder(targets: list[Target]) -> tuple[SrvResponder, str, asyncio.DatagramTransport]:
    """The responder on port 53 of a loopback address of its own (127.53.x.y): nothing else answers there."""
    loop = asyncio.get_running_loop()
    for _ in range(20):
        ip = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
        try:
            transport, proto = await loop.create_datagram_endpoint(lambda: SrvResponder(targets), local_addr=(ip, 53))
        except OSError:
            continue
        return proto, ip, transport
    raise RuntimeError("no free loopback address for the DNS responder")


def private_resolver(run: Path, nameserver: str) -> list[str]:
    """The command prefix that starts a process with /etc/resolv.conf naming only `nameserver`."""
    conf = run / "resolv.conf"
    conf.write_text(f"nameserver {nameserver}\noptions timeout:1 attempts:1\n")
    return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(conf)]


RULES = """version: 1
company: {{timezone: Europe/Moscow, default_region: RU}}
targets:
  answers: {{dial: Local/ok1@live-agents, timeout: 10}}
rules:
  - name: everyone
    route: [answers]
fallback: [answers]
directory:
  crm:
    budget_ms: 150
    requests:
      - url: http://127.0.0.1:{crm}/lookup
        query: {{phone: "{{number}}"}}
        map: {{name: contact.name}}
"""
"""Every call asks the CRM (150 ms budget): a stalled CRM holds a router inside a call, long enough to kill it."""


class Crm:
    """Answers each lookup at once ("not known"), or, while `stalled`, never: `asked` is then set
    (the router asking is mid-call)."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.stalled = False
        self.held: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            if not self.stalled:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                             b"Connection: close\r\n\r\n{}")
                await writer.drain()
                writer.close()
                return
            self.held.append(writer)
            self.asked.set()

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for w in self.held:
            w.close()
        self.server.close()


async def decided_by(r, prefix: str, number: str) -> str:
    """The instance whose decision for `number` is in the shared decision log."""
    async with asyncio.timeout(10):
        while True:
            for _, fields in await r.xrange(f"{prefix}:{{log}}:decisions"):
                d = json.loads(fields["d"])
                if d["caller"]["number"] == number:
                    return d["instance"]
            await asyncio.sleep(0.05)


async def outcomes_of(r, prefix: str, numbers: set[str]) -> dict[str, list[dict]]:
    """Every recorded outcome of these numbers, once all of them have one."""
    async with asyncio.timeout(30):
        while True:
            found: dict[str, list[dict]] = {}
            for _, fields in await r.xrange(f"{prefix}:{{log}}:outcomes"):
                o = json.loads(fields["o"])
                if o["number"] in numbers and o["direction"] == "inbound":
                    found.setdefault(o["number"], []).append(o)
            if set(found) == numbers:
                return found
            await asyncio.sleep(0.1)


def joined_queue(number: str):
    return lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == number


def dialled(number: str):
    """The routed step rang its agent (the fallback queue rings another)."""
    return lambda e: e.get("Event") == "DialBegin" and e.get("CallerIDNum") == number and \
        e.get("DestChannel", "").startswith("Local/ok1@live-agents")


@dataclass
class Routers:
    ami: AMIClient
    routers: dict[str, subprocess.Popen]
    r: aioredis.Redis
    prefix: str
    crm: Crm
    responder: SrvResponder


@contextlib.asynccontextmanager
async def two_routers(redis_url: str) -> AsyncIterator[Routers]:
    """A private Asterisk whose resolver is our SRV responder; `router serve` r1 (SRV priority 10) and
    r2 (20) on one store, both following that Asterisk over AMI."""
    run = Path(tempfile.mkdtemp(prefix="callrouter-srv-"))
    crm = Crm()
    ports = {"r1": free_port(), "r2": free_port()}
    responder, nameserver, transport = await start_responder(
        [Target("r1." + SERVICE, ports["r1"], priority=10), Target("r2." + SERVICE, ports["r2"], priority=20)])
    (run / "rules.yaml").write_text(RULES.format(crm=await crm.start()))
    ast = start_asterisk(run / "asterisk", f"hagi://{SERVICE.rstrip('.')}/route",
                         launcher=private_resolver(run, nameserver))
    prefix = f"srv{uuid.uuid4().hex[:8]}"
    routers: dict[str, subprocess.Popen] = {}
    try:
        assert "Added interface" in ast.cli("queue add member Local/ok2@live-agents to support penalty 0 as ok2")
        for name, port in ports.items():
            routers[name] = subprocess.Popen(
                [*ROUTER_CMD, "serve", "--rules", str(run / "rules.yaml"), "--store", redis_url, "--prefix", prefix,
                 "--agi", f"127.0.0.1:{port}", "--http", f"127.0.0.1:{free_port()}", "--ami",
                 f"ami://callrouter@127.0.0.1:{ast.ami_port}"],
                env=router_env(ROUTER_AMI_SECRET=AMI_SECRET, ROUTER_INSTANCE=name),
                stdout=(run / f"{name}.log").open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while ast.cli("manager show connected").count("callrouter") < 2:
            assert time.monotonic() < deadline, "the routers did not log in to AMI: " + "".join(
                (run / f"{name}.log").read_text(errors="replace")[-1500:] for name in ports)
            await asyncio.sleep(0.1)
        ami = AMIClient()
        await ami.connect(ast.ami_port)
        r = aioredis.from_url(redis_url, decode_responses=True)
        yield Routers(ami, routers, r, prefix, crm, responder)
        await ami.close()
        await r.aclose()
    finally:
        stop_processes(routers.values(), 15)
        ast.stop()
        transport.close()
        await crm.close()
        shutil.rmtree(run, ignore_errors=True)
