"""Processes for fault tests: a redis-server that can be killed and restarted on the same port,
and a real `router serve` process with its ports, its pid, its log and a way to signal it.

    def test_x(redis_server, router_process, prefix):
        r = router_process(store=redis_server.url, prefix=prefix)
        result = r.call("+79161234501")            # one FastAGI call, the variables Asterisk would get
        redis_server.kill(); redis_server.start()  # same port, empty data (or keep it: see `save`)
        r.signal(signal.SIGTERM); assert r.wait() == 0
        assert "routed by the fallback chain" not in r.log()
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.asterisk.callsim import CallResult, call
from tests.helpers import ROUTER_CMD, RULES_DIR, free_port, router_env

START_SECONDS = 20.0
"""How long a process may take to come up on a loaded 2-core machine."""


def _wait_port(port: int, seconds: float, alive=lambda: True) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


class RedisServer:
    """A redis-server of the test's own: kill it, start it again on the same port.

    With `persist=True` the data survives a restart (an RDB dump taken at SHUTDOWN/kill -TERM,
    as a real Redis with `save` configured keeps it); by default a restart comes back empty.
    """

    def __init__(self, directory: Path, port: int | None = None, persist: bool = False):
        self.exe = shutil.which("redis-server")
        if self.exe is None:
            pytest.fail("redis-server is not installed: `apt-get install redis-server` (see README, Quick start)")
        self.dir = directory
        self.port = port or free_port()
        self.persist = persist
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        save = ["--save", "3600 1", "--dbfilename", "dump.rdb"] if self.persist else ["--save", ""]
        self.proc = subprocess.Popen([self.exe, "--port", str(self.port), "--bind", "127.0.0.1", *save,
                                      "--appendonly", "no", "--dir", str(self.dir),
                                      "--logfile", str(self.dir / "redis.log")])
        if not _wait_port(self.port, START_SECONDS, lambda: self.proc.poll() is None):
            self.proc.kill()
            pytest.fail(f"redis-server did not start on port {self.port}: see {self.dir / 'redis.log'}")
        return self

    def kill(self) -> None:
        """SIGKILL: connections drop without a goodbye, as when a host dies (no dump is written)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM: Redis saves (when persisting) and exits cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> RedisServer:
        self.stop() if self.persist else self.kill()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self):
        import redis

        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)


class RouterProcess:
    """`python -m router serve` of this checkout, on free ports, its log in a file."""

    def __init__(self, workdir: Path, rules: Path | str, store: str, prefix: str,
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()):
        self.workdir = workdir
        self.rules = Path(rules)
        self.store = store
        self.prefix = prefix
        self.env = dict(env or {})
        self.args = args
        self.agi_port = free_port()
        self.http_port = free_port()
        self.log_path = workdir / f"router-{self.agi_port}.log"
        self.spool = Path(self.env.get("ROUTER_SPOOL") or workdir / f"spool-{self.agi_port}.jsonl")
        self.env.setdefault("ROUTER_SPOOL", str(self.spool))
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> RouterProcess:
        """Spawn; with `wait`, return once it answers on both ports (or fail with its log)."""
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*ROUTER_CMD, "serve", "--rules", str(self.rules), "--store", self.store, "--prefix", self.prefix,
             "--agi", f"127.0.0.1:{self.agi_port}", "--http", f"127.0.0.1:{self.http_port}", *self.args],
            stdout=self._log, stderr=subprocess.STDOUT, env=router_env(**self.env), cwd=self.workdir)
        if wait and not self.wait_ready():
            pytest.fail(f"router serve did not come up (exit {self.proc.poll()}):\n{self.log()}")
        return self

    def restart(self, wait: bool = True) -> RouterProcess:
        """SIGTERM, wait for the exit, start again: same ports, same spool, same log file."""
        if self.alive():
            self.signal(signal.SIGTERM)
            self.wait()
        return self.start(wait)

    def wait_ready(self, seconds: float = START_SECONDS) -> bool:
        alive = self.alive
        return _wait_port(self.agi_port, seconds, alive) and _wait_port(self.http_port, seconds, alive)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, seconds: float = 30) -> int:
        """The exit status once it has stopped."""
        assert self.proc is not None
        code = self.proc.wait(seconds)
        self._log.close()
        return code

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self._log.close()

    def log(self) -> str:
        """Everything it wrote to stdout and stderr so far."""
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, seconds: float = 20, count: int = 1) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            log = self.log()
            if log.count(text) >= count:
                return log
            if not self.alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the router's log (×{count}):\n{self.log()[-4000:]}")

    def fds(self) -> int:
        """Open file descriptors of the process (Linux)."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def http(self, path: str, method: str = "GET", body: bytes | None = None,
             headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, object]:
        """(status, JSON body — or text when it is not JSON)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def call(self, number: str, name: str = "", uid: int = 1, **kw) -> CallResult:
        """One FastAGI call from a synchronous test."""
        return asyncio.run(call(self.agi_port, number, name, uid=uid, **kw))

    async def acall(self, number: str, name: str = "", uid: int = 1, **kw) -> CallResult:
        return await call(self.agi_port, number, name, uid=uid, **kw)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    """A private redis-server for one test, which the test may kill and restart."""
    d = tmp_path / "redis"
    d.mkdir()
    server = RedisServer(d).start()
    yield server
    server.kill()


@pytest.fixture
def redis_factory(tmp_path):
    """More redis-servers (e.g. one that persists across restarts): `redis_factory(persist=True)`."""
    made: list[RedisServer] = []

    def _make(persist: bool = False, start: bool = True) -> RedisServer:
        d = tmp_path / f"redis{len(made)}"
        d.mkdir()
        server = RedisServer(d, persist=persist)
        made.append(server)
        return server.start() if start else server

    yield _make
    for s in made:
        s.kill()


@pytest.fixture
def router_process(tmp_path, prefix):
    """Start `router serve`: router_process(store=URL, rules=PATH, prefix=…, env={…}, args=(…), wait=True)."""
    made: list[RouterProcess] = []

    def _start(store: str, rules: Path | str = RULES_DIR / "default.yaml", prefix: str = prefix,
               env: dict[str, str] | None = None, args: tuple[str, ...] = (), wait: bool = True) -> RouterProcess:
        r = RouterProcess(tmp_path, rules, store, prefix, env, args)
        made.append(r)
        return r.start(wait)

    yield _start
    for r in made:
        if r.alive():
            r.proc.send_signal(signal.SIGKILL)
            r.proc.wait(10)
        r.stop()
