"""Running the router: FastAGI, HTTP and the decision-log writer, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

from aiohttp import web

from router.asterisk.agi import FastAGIServer
from router.asterisk.ami import AMITarget, Listener
from router.service import Router
from router.web.app import make_app

log = logging.getLogger("router")


@dataclass
class Running:
    router: Router
    agi: FastAGIServer
    http: web.AppRunner
    http_port: int
    ami: Listener | None = None

    async def stop(self) -> None:
        await self.agi.close()
        self.router.broadcast.close()
        await self.http.cleanup()
        if self.ami is not None:
            await self.ami.stop()
        await self.router.followups.drain()
        await self.router.followups.sender.close()
        await self.router.log.stop()


async def start(router: Router, agi: tuple[str, int], http: tuple[str, int], token: str | None = None,
                ami: AMITarget | None = None) -> Running:
    router.log.start()
    listener = None
    if ami is not None:
        listener = Listener(ami, router.store, router.rules.region, clock=router.clock,
                            on_outcome=router.on_outcome)
        listener.start()
    agi_server = FastAGIServer({"route": router.answer}, *agi)
    await agi_server.start()
    runner = web.AppRunner(make_app(router, token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, *http, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else http[1]
    log.info("routing on agi://%s:%d/route, HTTP on http://%s:%d", agi[0], agi_server.port, http[0], port)
    return Running(router, agi_server, runner, port, listener)


async def serve_forever(running: Running) -> None:
    """Until SIGINT/SIGTERM; SIGHUP reloads the rules (a bad file keeps the rules in force)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, running.router.reload)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        log.info("stopping: %d decisions made, %d waiting for the log", running.router.decisions,
                 len(running.router.log.pending))
        await running.stop()
