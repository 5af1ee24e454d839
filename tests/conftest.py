"""Shared fixtures (a private redis-server for the run, a fresh key prefix per test, the router on free
ports, the AMI simulator, the SMS/CRM gateway, a headless browser) and the markers every test gets.

Markers (pyproject.toml registers them; `pytest -m unit` is the quick run):
  redis    the test uses a redis-server: the session's (`redis_url`, so `store`, `serve`…) or its own
  browser  the test drives headless Chromium (`browser`)
  asterisk the test needs a real Asterisk (tests/live)
  slow     the test starts processes (the `router` command, linters, servers) or runs for seconds;
           marked by hand, or given to a whole module or folder below
  unit     none of the above: given here to every other test. A unit test that starts a process
           fails and says to mark it `slow`, so that the quick run stays quick and starts nothing.

Plain helpers are in tests/helpers.py: import them from there, not from here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from router.asterisk.agi import AGISocket
from router.asterisk.amisim import AMIServer
from router.core.decide import CompiledRules
from router.core.rulefile import load_rules
from router.server import start
from router.service import Router
from router.state.factory import open_store
from router.state.keys import Keys
from tests.fake_services import FakeCrm, Gateway, MailServer
from tests.helpers import CHROMEDRIVER, CHROMIUM, RULES_DIR, SIM_SECRET, free_port
from tests.helpers import router_env as router_env  # bench/ imports it from here
from tests.helpers import stop_processes as stop_processes  # bench/ imports it from here

TESTS = Path(__file__).resolve().parent

REDIS_FIXTURES = {"redis_url", "redis_server", "redis_factory", "sentinel_group", "cluster"}
"""Fixtures that start a redis-server (the last four are tests/faults' and tests/replicated's)."""
BROWSER_FIXTURES = {"browser"}
SLOW_FOLDERS = {TESTS / "faults", TESTS / "replicated", TESTS / "live"}
"""Every test in these starts and kills processes of its own."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & REDIS_FIXTURES:
            item.add_marker(pytest.mark.redis)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if TESTS / "live" in item.path.parents:
            item.add_marker(pytest.mark.asterisk)
        if SLOW_FOLDERS & set(item.path.parents):
            item.add_marker(pytest.mark.slow)
        if not any(item.get_closest_marker(m) for m in ("redis", "browser", "asterisk", "slow")):
            item.add_marker(pytest.mark.unit)


class StartedAProcess(Exception):
    """A `unit` test tried to start a process."""


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A `unit` test that starts a process (a redis-server, a browser, the `router` command) fails at once."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(self, args, *rest, **kw):
        raise StartedAProcess(f"a unit test started {args!r}: mark the test `slow` (tests/conftest.py)")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


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


@pytest.fixture
async def serve(store):
    """Start the real router (AGI + HTTP on free ports) with given rules and clock."""
    started = []

    async def _serve(rules: CompiledRules, clock=time.time, budget: float = 2.0, the_store=None,
                     rules_path=None, token=None, ami=None, originate=None):
        # a generous store budget: the budget has tests of its own (they pass theirs); the others
        # must not fall back because a busy machine kept the loop from reading Redis's answer
        router = Router(rules, the_store or store, rules_path=rules_path, clock=clock, budget=budget)
        running = await start(router, ("127.0.0.1", 0), ("127.0.0.1", 0), token, ami=ami, originate=originate)
        started.append(running)
        return running

    yield _serve
    for r in started:
        await r.stop()


@pytest.fixture
async def gateway():
    """The SMS provider and CRM webhook on a free port (tests/fake_services.py)."""
    g = Gateway()
    runner = await g.start()
    yield g
    await runner.cleanup()


@pytest.fixture
async def crm():
    """A CRM on a free port (tests/fake_services.py): contacts by phone and by contract number."""
    server = FakeCrm()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def mail():
    """The company's SMTP server (aiosmtpd) on a free port (tests/fake_services.py); stop/start plays an outage."""
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path):
    """Debian's chromium, headless, driven by chromedriver; wait for the page with helpers.until."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("the page test needs Debian's chromium and chromium-driver: apt-get install chromium "
                    "chromium-driver (see README)")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver: use Debian's
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()
