"""Serving a stream of server-sent events: the response, its keep-alive, and the answer when the router already
serves as many streams as it will.

A subscriber (`router.web.broadcast.Subscriber`) hands over ready-made frames; `relay` writes them as they come
and, after KEEP_ALIVE seconds of quiet, an SSE comment line, so that proxies and browsers keep an idle stream
open. The stream ends when the subscriber's does (`None`) or the client goes away.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from router.web.broadcast import Subscriber

KEEP_ALIVE = 15.0
"""Seconds of quiet before a comment line: under the 30-60 s after which proxies commonly cut an idle response."""
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
"""`X-Accel-Buffering: no` keeps nginx from holding the frames back."""


def event_stream() -> web.StreamResponse:
    return web.StreamResponse(headers=HEADERS)


def refused(message: str) -> web.Response:
    """503 with Retry-After, the connection closed: a refused client keeps no idle connection open."""
    refusal = web.json_response({"error": message}, status=503, headers={"Retry-After": "30"})
    refusal.force_close()
    return refusal


async def relay(resp: web.StreamResponse, sub: Subscriber, keep_alive: float = KEEP_ALIVE) -> None:
    """Write each frame `sub` gives until its stream ends; a comment line after `keep_alive` seconds of quiet."""
    while True:
        try:
            async with asyncio.timeout(keep_alive):
                data = await sub.next()
        except TimeoutError:
            await resp.write(b": keep-alive\n\n")
            continue
        if data is None:
            return
        await resp.write(data)
