"""HTTP routes of the wallboard: the page (`/wallboard`), the board now (`/api/wallboard`) and its live stream
(`/api/wallboard/stream`: the whole board on connecting, then after every change, at most every 200 ms).

A head's session opens both; so does a wallboard token (`router wallboard token SCREEN`), which opens
nothing else (router/web/access.py). A TV opens `/wallboard#token=crw_…`: the page sends the token
as `?token=` on the stream (EventSource cannot send headers) and keeps it out of the address bar.
"""

from __future__ import annotations

import asyncio
from importlib import resources

import orjson
from aiohttp import web

from router.wallboard.live import Wallboard
from router.web.broadcast import frame
from router.web.sse import event_stream, refused, relay

PAGE = resources.files("router").joinpath("data/wallboard.html")
WALLBOARD_KEY = web.AppKey("wallboard", Wallboard)


async def page(request: web.Request) -> web.Response:
    return web.Response(body=PAGE.read_bytes(), content_type="text/html", charset="utf-8",
                        headers={"Referrer-Policy": "no-referrer"})


async def now(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(await request.app[WALLBOARD_KEY].current()), content_type="application/json")


async def stream(request: web.Request) -> web.StreamResponse:
    wall = request.app[WALLBOARD_KEY]
    transport = request.transport
    sub = wall.screens.subscribe(on_drop=transport.abort if transport is not None else None)
    if sub is None:
        return refused(f"{wall.screens.max_subscribers} wallboards are open on this router, the most it serves; "
                       "close one")
    resp = event_stream()
    try:
        first = await wall.current()
        await resp.prepare(request)
        await resp.write(frame({"type": "board", "board": first}))
        await relay(resp, sub)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        wall.screens.unsubscribe(sub)
    return resp


def add_routes(app: web.Application, wall: Wallboard) -> None:
    app[WALLBOARD_KEY] = wall

    async def started(app: web.Application) -> None:
        wall.start()

    async def closing(app: web.Application) -> None:
        await wall.stop()  # the screens' streams end now, so the server's shutdown does not wait for them

    app.on_startup.append(started)
    app.on_shutdown.append(closing)
    app.router.add_get("/wallboard", page)
    app.router.add_get("/api/wallboard", now)
    app.router.add_get("/api/wallboard/stream", stream)
