"""A private Asterisk with the project's dialplan and configs as shipped, a real `router serve`, real Redis;
the tests' own AMI connection to it. The fixtures built on these are in tests/live/conftest.py.

One Asterisk and one router serve the whole live suite (starting them takes about a second);
each test calls from its own numbers, so tests do not see each other's calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from router.asterisk.amiwire import Framer, Message
from router.core.rulefile import load_rules
from router.ivr.dialplan import dialplan as menus_dialplan
from router.state.keys import Keys
from tests.helpers import ROOT, ROUTER_CMD, free_port, router_env, stop_processes
from tests.live.prompts import make_prompts, private_data

HERE = Path(__file__).resolve().parent
ASTERISK = shutil.which("asterisk")
AMI_SECRET = uuid.uuid4().hex
DIAL_SECRET = uuid.uuid4().hex
TESTER_SECRET = uuid.uuid4().hex


def asterisk_prefix() -> Path | None:
    """The install prefix of the `asterisk` on PATH (modules and data live under it)."""
    if ASTERISK is None:
        return None
    prefix = Path(os.path.realpath(ASTERISK)).parent.parent
    return prefix if (prefix / "lib" / "asterisk" / "modules" / "res_agi.so").exists() else None


PREFIX = asterisk_prefix()
needs_asterisk = pytest.mark.skipif(PREFIX is None, reason="asterisk is not on PATH (or its modules are not "
                                    "beside it): the live suite needs a real Asterisk 20+ (see README, Quick start)")

ASTERISK_CONF = """[directories]
astetcdir => {run}/etc
astmoddir => {prefix}/lib/asterisk/modules
astvarlibdir => {run}/var/lib
astdbdir => {run}/var/lib
astkeydir => {run}/var/lib
astdatadir => {run}/data
astagidir => {run}/var/lib/agi-bin
astspooldir => {run}/var/spool
astrundir => {run}/var/run
astlogdir => {run}/var/log
astcachedir => {run}/var/cache
astsbindir => {prefix}/sbin

[options]
defaultlanguage = en
transmit_silence = no
"""


def shipped_manager_conf(ami_port: int) -> str:
    """asterisk/manager.conf as shipped, on a private port and loopback only, plus the tests' own user."""
    text = (ROOT / "asterisk" / "manager.conf").read_text()
    for old, new in (("port = 5038", f"port = {ami_port}"), ("bindaddr = 0.0.0.0", "bindaddr = 127.0.0.1")):
        assert old in text, f"asterisk/manager.conf: the live suite expects `{old}` in [general]"
        text = text.replace(old, new)
    return text + f"""
[tester]
secret = {TESTER_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all
"""


def write_etc(run: Path, ami_port: int, agi_url: str, extra_dialplan: str = "", prefix: Path | None = None) -> Path:
    """The private /etc/asterisk: shipped files where the product ships one, tests/live/config otherwise.
    `prefix`: the install whose modules and data it uses (the `asterisk` on PATH unless given)."""
    etc = run / "etc"
    for d in ("etc/shipped", "etc/callrouter", "var/lib/agi-bin", "var/spool", "var/run", "var/log", "var/cache"):
        (run / d).mkdir(parents=True, exist_ok=True)
    private_data(run, prefix or PREFIX)
    (etc / "asterisk.conf").write_text(ASTERISK_CONF.format(run=run, prefix=prefix or PREFIX))
    for f in ("logger.conf", "cdr.conf", "cdr_manager.conf", "modules.conf"):
        shutil.copy(HERE / "config" / f, etc / f)
    shutil.copy(ROOT / "asterisk" / "modules.conf", etc / "shipped" / "modules.conf")
    shutil.copy(ROOT / "asterisk" / "queues.conf", etc / "queues.conf")
    shutil.copy(ROOT / "asterisk" / "stasis.conf", etc / "stasis.conf")
    for f in (ROOT / "dialplans").glob("*.conf"):
        shutil.copy(f, etc / "callrouter" / f.name)
    # the live rules' menus, as `router ivr dialplan tests/live/rules.yaml` writes them
    (etc / "callrouter" / "live-ivr.conf").write_text(menus_dialplan(load_rules(HERE / "rules.yaml")))
    (etc / "manager.conf").write_text(shipped_manager_conf(ami_port))
    (etc / "manager_secret.conf").write_text(f"secret = {AMI_SECRET}\n")
    (etc / "callrouter_dial_secret.conf").write_text(f"secret = {DIAL_SECRET}\n")
    dialplan = (HERE / "config" / "extensions.conf").read_text().replace("@AGI@", agi_url)
    (etc / "extensions.conf").write_text(dialplan + extra_dialplan)
    return etc


@dataclass
class LiveAsterisk:
    run: Path
    ami_port: int
    proc: subprocess.Popen
    binary: str = ASTERISK or "asterisk"
    no_prompts: str = ""
    """Why the menus' prompts could not be made (empty: they are in `sounds`)."""

    @property
    def sounds(self) -> Path:
        return self.run / "data" / "sounds"

    @property
    def conf(self) -> str:
        return str(self.run / "etc" / "asterisk.conf")

    def cli(self, command: str) -> str:
        res = subprocess.run([self.binary, "-C", self.conf, "-rx", command], capture_output=True, text=True,
                             timeout=20)
        return res.stdout

    def messages(self) -> str:
        path = self.run / "var" / "log" / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            subprocess.run([self.binary, "-C", self.conf, "-rx", "core stop now"], capture_output=True, timeout=20)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_asterisk(run: Path, agi_url: str, extra_dialplan: str = "", launcher: list[str] = (),
                   binary: str | None = None, prefix: Path | None = None,
                   configure: Callable[[Path], None] | None = None) -> LiveAsterisk:
    """`launcher` goes before the command (tests/live/srv.py starts it with a resolver of its own);
    `binary` and `prefix` name another install than the `asterisk` on PATH (tests/live/sip: the SIP
    build); `configure(etc)` changes the private /etc/asterisk before Asterisk reads it."""
    ami_port = free_port()
    etc = write_etc(run, ami_port, agi_url, extra_dialplan, prefix)
    if configure is not None:
        configure(etc)
    binary = binary or ASTERISK
    no_prompts = make_prompts(run / "data" / "sounds")
    out = open(run / "asterisk.out", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen([*launcher, binary, "-C", str(etc / "asterisk.conf"), "-f", "-n"], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    ast = LiveAsterisk(run, ami_port, proc, binary, no_prompts=no_prompts)
    deadline = time.monotonic() + 30
    while "fully booted" not in (ast.cli("core waitfullybooted") if proc.poll() is None else "fully booted"):
        if time.monotonic() > deadline:
            ast.stop()
            pytest.fail(f"Asterisk did not boot within 30 s: see {run / 'asterisk.out'}")
        time.sleep(0.1)
    if proc.poll() is not None:
        pytest.fail(f"Asterisk exited at start ({proc.returncode}): {(run / 'asterisk.out').read_text()[-2000:]}")
    return ast


@dataclass
class Live:
    asterisk: LiveAsterisk
    router: subprocess.Popen
    redis_url: str
    prefix: str
    agi_port: int
    http_port: int
    run: Path

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    def router_log(self) -> str:
        return (self.run / "router.log").read_text(errors="replace")


def start_router(ast: LiveAsterisk, run: Path, redis_url: str, prefix: str, rules: Path, customers: Path,
                 agi_port: int, http_port: int) -> subprocess.Popen:
    """`router serve` with `rules`, the directory imported from `customers`, following `ast` over AMI as
    the shipped `callrouter` user and dialling callbacks as `callrouter-dial`; returns once it has logged in (its
    log: run/router.log)."""
    imported = subprocess.run([*ROUTER_CMD, "customers", "import", str(customers), "--store", redis_url, "--prefix",
                               prefix], env=router_env(), capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    log = open(run / "router.log", "wb")  # noqa: SIM115 - the process keeps it
    router = subprocess.Popen([*ROUTER_CMD, "serve", "--rules", str(rules), "--store", redis_url, "--prefix", prefix,
                               "--agi", f"127.0.0.1:{agi_port}", "--http", f"127.0.0.1:{http_port}", "--ami",
                               f"ami://callrouter@127.0.0.1:{ast.ami_port}", "--ami-originate",
                               f"ami://callrouter-dial@127.0.0.1:{ast.ami_port}"],
                              env=router_env(ROUTER_AMI_SECRET=AMI_SECRET, ROUTER_AMI_ORIGINATE_SECRET=DIAL_SECRET),
                              stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while "callrouter" not in ast.cli("manager show connected"):
        if time.monotonic() > deadline or router.poll() is not None:
            stop_processes([router], 15)
            raise RuntimeError(f"router did not log in to AMI: {(run / 'router.log').read_text()[-3000:]}")
        time.sleep(0.1)
    return router


@contextlib.contextmanager
def live_stack(redis_url: str) -> Iterator[Live]:
    """Asterisk and `router serve` wired as the README says."""
    # not under pytest's basetemp: another pytest run on the machine may rotate that away mid-run
    run = Path(tempfile.mkdtemp(prefix="callrouter-live-"))
    agi_port, http_port = free_port(), free_port()
    ast = start_asterisk(run, f"agi://127.0.0.1:{agi_port}/route")
    prefix = f"live{uuid.uuid4().hex[:8]}"
    router = None
    try:
        for member in ("ok2", "ok3"):
            added = ast.cli(f"queue add member Local/{member}@live-agents to support penalty 0 as {member}")
            assert "Added interface" in added, added
        router = start_router(ast, run, redis_url, prefix, HERE / "rules.yaml", HERE / "customers.csv", agi_port,
                              http_port)
        yield Live(ast, router, redis_url, prefix, agi_port, http_port, run)
    finally:
        if router is not None:
            stop_processes([router], 15)
        ast.stop()
        shutil.rmtree(run, ignore_errors=True)


class AMIClient:
    """The tests' own AMI connection (user `tester`, every event): actions and events in order."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self._changed = asyncio.Condition()
        self._responses: dict[str, asyncio.Future] = {}
        self._ids = 0

    async def connect(self, port: int, username: str = "tester", secret: str = TESTER_SECRET) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self._task = asyncio.create_task(self._read())
        reply = await self.action("Login", Username=username, Secret=secret, Events="on")
        assert reply.get("Response") == "Success", dict(reply)

    async def close(self) -> None:
        self._task.cancel()
        self.writer.close()

    async def _read(self) -> None:
        framer = Framer()
        while data := await self.reader.read(65536):
            for m in framer.feed(data):
                future = self._responses.pop(m.get("ActionID", ""), None) if "Response" in m else None
                if future is not None and not future.done():
                    future.set_result(m)
                elif "Event" in m:
                    m["_at"] = str(time.monotonic())
                    async with self._changed:
                        self.events.append(m)
                        self._changed.notify_all()

    async def action(self, name: str, **fields: str) -> Message:
        self._ids += 1
        action_id = f"t{self._ids}"
        future = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for k, v in fields.items():
            for one in v if isinstance(v, list) else [v]:
                lines.append(f"{k}: {one}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        async with asyncio.timeout(10):
            return await future

    async def wait_for(self, match: Callable[[Message], bool], timeout: float = 20.0) -> Message:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for e in self.events:
                    if match(e):
                        return e
                await self._changed.wait()

    async def call_pressing(self, did: str, number: str, keys: str, delay: float = 1.0, hold: float = 40.0) -> None:
        """An inbound call from `number` to `did` whose caller, once answered, waits `delay` seconds, sends `keys`
        as DTMF (SendDTMF: `w` is half a second's pause) and stays on the line `hold` seconds more."""
        fields = {"Channel": f"Local/{did}@live-trunk", "Context": "live-keys", "Exten": "s", "Priority": "1",
                  "CallerID": f"<{number}>", "Timeout": "30000", "Async": "true",
                  "Variable": [f"KEYS={keys}", f"DELAY={delay}", f"HOLD={hold}"]}
        reply = await self.action("Originate", **fields)
        assert reply.get("Response") == "Success", dict(reply)

    async def call(self, did: str, number: str, name: str = "", context: str = "live-trunk",
                   timeout_ms: int = 30000, **variables: str) -> None:
        """An inbound call from `number` to `did`: the ;2 half of Local/DID@context is the caller."""
        caller = f'"{name}" <{number}>' if name else f"<{number}>"
        fields = {"Channel": f"Local/{did}@{context}", "Application": "Wait", "Data": "30",
                  "CallerID": caller, "Timeout": str(timeout_ms), "Async": "true"}
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        reply = await self.action("Originate", **fields)
        assert reply.get("Response") == "Success", dict(reply)


HOSTILE = {
    "ROUTE_RULE": 'O"Brien, Jr. \\ (sales) [A] | night; =x',
    "ROUTE_MANAGER": "Иван «VIP» Петров",
    "ROUTE_1_DEST": "Local/ok1@live-agents&Local/ok2@live-agents",
    "ROUTE_TZ": "line\nbreak\r\nEXEC Hangup",
    "ROUTE_ABC": "",
    "ROUTE_2_DEST": "trail\\",
    "ROUTE_3_DEST": "((]]\"\"${CALLERID(num)}",
    "ROUTE_4_DEST": "ж" * 300,
}
"""Values the router's one MSet must carry intact through a real Asterisk: quotes, backslashes, commas,
pipes, semicolons, line breaks, Cyrillic, a long one (test_agi_live.py; record.py records them)."""
