"""Running the router: FastAGI, HTTP and the decision-log writer, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import socket
from dataclasses import dataclass

from aiohttp import web

from router.asterisk.agi import ACCEPT_FAILED, MAX_CONNECTIONS, OUT_OF_FDS, FastAGIServer
from router.asterisk.ami import AMITarget, Listener
from router.asterisk.inventory import unknown
from router.asterisk.originate import Originator
from router.backlog import Backlog
from router.crm.sync import attach as attach_crm
from router.floodlog import FloodLog
from router.followups.dialler import DIAL_EVERY
from router.periodic import Periodic
from router.service import Router
from router.state.errors import STORE_ERRORS
from router.state.spool import Spool
from router.wallboard.live import Wallboard
from router.web.app import make_app

log = logging.getLogger("router")
TICK_SECONDS = 30.0
"""How often escalation, the risk sweep and the store's persistence check run (every router runs them; Redis
makes each step happen once)."""


async def callback_rounds(router: Router) -> None:
    """Held places' and the progressive worklist's rounds (router/followups/holds.py, dialler.py), off the calls'
    path."""
    await router.holds.run()
    await router.dialler.run()


def ticker(router: Router, every: float = TICK_SECONDS) -> Periodic:
    def failed(e: Exception) -> None:
        log.warning("periodic check (escalation, risk) failed: %s; next try in %.0f s", e, every)

    return Periodic("periodic", every, router.tick, (Exception,), failed)


def dialler(router: Router, every: float = DIAL_EVERY) -> Periodic:
    def failed(e: Exception) -> None:
        log.warning("callbacks round (held places, worklist) failed: %s; next try in %.0f s", e, every)

    return Periodic("worklist-dialler", every, lambda: callback_rounds(router), (Exception,), failed)


FD_RESERVE = 300
"""File descriptors kept for everything but FastAGI: Redis, HTTP clients, the live stream, logs."""


def raise_fd_limit() -> int:
    """Lift the soft limit on open files to the hard one (often 1024 of 524288): the number usable."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(wanted: int, fd_limit: int) -> int:
    """The FastAGI connection cap the fd limit allows: past it accept() fails for every listener."""
    cap = max(1, min(wanted, fd_limit - FD_RESERVE))
    if cap < wanted:
        log.warning("AGI: %d connections wanted but only %d open files allowed (LimitNOFILE / ulimit -n); "
                    "capped at %d", wanted, fd_limit, cap)
    return cap


def count_accept_failures(flood: FloodLog) -> None:
    """asyncio logs a traceback for every failed accept() of the listeners it serves (HTTP; the FastAGI
    server counts its own): count them into the same summary instead."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in OUT_OF_FDS and "accept" in context.get("message", ""):
            flood.note(ACCEPT_FAILED, f"{exc.strerror}; new connections wait 1 s")
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


DRAIN_SECONDS = 10.0
"""At shutdown, how long calls under way may take to finish (a FastAGI session's own limit)."""
FLUSH_SECONDS = 3.0
"""At shutdown, how long the store gets for what is pending before it goes to the spool."""


@dataclass
class Running:
    router: Router
    agi: FastAGIServer
    http: web.AppRunner
    http_port: int
    ami: Listener | None = None
    ticker: Periodic | None = None
    backlog: Backlog | None = None
    originator: Originator | None = None
    dialler: Periodic | None = None

    async def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop taking calls, let those under way finish, write what is pending, spool what the store refuses."""
        for rounds in (self.ticker, self.dialler):
            if rounds is not None:
                await rounds.stop()
        if self.originator is not None:
            self.originator.close()
        await self.agi.drain(drain)
        await self.router.feed.stop()
        self.router.broadcast.close()
        await self.http.cleanup()
        if self.ami is not None:
            await self.ami.stop(FLUSH_SECONDS)
        unwritten = await self.router.followups.outbox.stop(FLUSH_SECONDS)
        await self.router.crm.close()
        await self.router.log.stop(FLUSH_SECONDS)
        if self.backlog is not None:
            await self.backlog.stop(self.ami, unwritten)


async def start(router: Router, agi: tuple[str, int], http: tuple[str, int], token: str | None = None,
                ami: AMITarget | None = None, max_connections: int = MAX_CONNECTIONS,
                max_per_peer: int | None = None, spool: Spool | None = None,
                originate: AMITarget | None = None) -> Running:
    with contextlib.suppress(*STORE_ERRORS):  # the store may be away: calls go on
        async with asyncio.timeout(2):
            await router.check_store()
    await router.write_ivr_dialplan()
    backlog = Backlog(router, spool) if spool is not None else None
    if backlog is not None:
        backlog.restore()
    router.log.start()
    crm = attach_crm(router)
    crm.start()
    router.followups.outbox.start()
    cap = connection_cap(max_connections, raise_fd_limit())
    agi_server = FastAGIServer({"route": router.answer, "switch": router.daynight.answer,
                                "hold": router.holds.answer}, *agi,
                               max_connections=cap, max_per_peer=max_per_peer)
    count_accept_failures(agi_server.flood)
    await agi_server.start()
    if not router.instance:
        router.instance = f"{socket.gethostname()}:{agi_server.port}"
    listener = None
    wall = Wallboard(router)
    if ami is not None:
        listener = Listener(ami, router.store, router.rules.region, clock=router.clock,
                            on_outcome=router.on_outcome, outcome_writes=router.risk.call_writes,
                            on_ring=router.on_ring)
        listener.journal_name = router.instance  # stable across restarts: the next run finds it
        listener.inventory_check = lambda have: unknown(router.rules.rs, have)
        listener.agents.queue_wrapup = lambda queue: router.rules.rs.report.wrapup_of(queue)
        try:
            async with asyncio.timeout(2):
                await listener.restore()
        except STORE_ERRORS as e:
            log.warning("AMI journal of the last run not read (%s): calls it was following are not finished", e)
        listener.watchers.append(wall)  # each router follows the queues on its own AMI connection
        listener.start()
    router.feed.start()
    if getattr(router.store, "view", None) is not None:  # a cluster router routes from its copy of the shared keys
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await router.feed.ready.wait()
    runner = web.AppRunner(make_app(router, token, agi=agi_server, ami=listener, crm=crm, wall=wall), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, *http, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else http[1]
    log.info("%s: routing on agi://%s:%d/route, HTTP on http://%s:%d", router.instance, agi[0], agi_server.port,
             http[0], port)
    periodic = ticker(router)
    periodic.start()
    originator = callbacks = None
    if originate is not None:
        originator = Originator(originate)
        originator.start()
        router.callbacks.originate = originator.originate
        router.holds.queue_status = originator.queue_status
        callbacks = dialler(router)
        callbacks.start()
    return Running(router, agi_server, runner, port, listener, ticker=periodic, backlog=backlog,
                   originator=originator, dialler=callbacks)


async def serve_forever(running: Running) -> None:
    """Until SIGINT/SIGTERM; SIGHUP reloads the rules (a bad file keeps the rules in force)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task] = set()

    def reload() -> None:
        task = asyncio.create_task(running.router.reload(), name="reload")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        log.info("stopping: %d decisions made, %d waiting for the log", running.router.decisions,
                 len(running.router.log.pending))
        await running.stop()
