"""Shared fixtures: a private redis-server for the whole run, a fresh key prefix per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from router.asterisk.agi import AGISocket
from router.asterisk.amisim import AMIServer
from router.core.decide import CompiledRules
from router.core.rulefile import load_rules, load_rules_text
from router.server import start
from router.service import Router
from router.state.factory import open_store
from router.state.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "rules"
FIXTURES = ROOT / "tests" / "fixtures"


ROUTER_CMD = [sys.executable, "-m", "router"]
"""The `router` command of this checkout (not whichever one is installed)."""

def stop_processes(procs, seconds: float = 10.0) -> None:
    """SIGTERM to all at once (they shut down side by side), then wait; one still running after
    `seconds` is killed."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(seconds)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


SIM_SECRET = "s3cret"
"""The secret of the router's user on the AMI simulator."""


@pytest.fixture
async def pair():
    """A FastAGI connection over a socket pair: (our AGISocket, the peer's plain non-blocking socket)."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    conn = AGISocket(asyncio.get_running_loop(), ours)
    yield conn, theirs
    conn.close()
    theirs.close()


@pytest.fixture
async def ami():
    """The AMI simulator (router/asterisk/amisim.py) on a free port; tests/live has a real Asterisk instead."""
    server = AMIServer(secret=SIM_SECRET)
    await server.start()
    yield server
    await server.close()


def router_env(**extra: str) -> dict[str, str]:
    """The environment for a `router` subprocess: this checkout first on the path, a spool of its own."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    spool = os.path.join(tempfile.mkdtemp(prefix="router-spool-"), "spool.jsonl")
    return {**os.environ, "PYTHONPATH": path, "ROUTER_SPOOL": spool, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A redis-server of our own on a free port: never a developer's data, nothing left behind."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: `apt-get install redis-server` (see README, Quick start)")
    port = free_port()
    d = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(d), "--logfile", str(d / "redis.log")])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"redis-server did not start on port {port}: see {d / 'redis.log'}")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def store(redis_url, prefix):
    s = open_store(redis_url, prefix)
    yield s
    await s.close()


@pytest.fixture
def keys(prefix) -> Keys:
    return Keys(prefix)


@pytest.fixture(scope="session")
def default_rules() -> CompiledRules:
    return CompiledRules(load_rules(RULES_DIR / "default.yaml"), "rules/default.yaml")


def compiled(text: str) -> CompiledRules:
    return CompiledRules(load_rules_text(text), "<test>")


class Clock:
    """An injected clock: tests move time, nobody sleeps."""

    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
async def serve(store):
    """Start the real router (AGI + HTTP on free ports) with given rules and clock."""
    started = []

    async def _serve(rules: CompiledRules, clock=time.time, budget: float = 2.0, the_store=None,
                     rules_path=None, token=None, ami=None):
        # a generous store budget: the budget has tests of its own (they pass theirs); the others
        # must not fall back because a busy machine kept the loop from reading Redis's answer
        router = Router(rules, the_store or store, rules_path=rules_path, clock=clock, budget=budget)
        running = await start(router, ("127.0.0.1", 0), ("127.0.0.1", 0), token, ami=ami)
        started.append(running)
        return running

    yield _serve
    for r in started:
        await r.stop()
