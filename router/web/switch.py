"""HTTP routes for the day/night switch: read it, flip it (the live page's button calls the same).

Any signed-in person reads it; a head or an admin flips it, recorded under their name (the `*28`
feature code is the phone's way, guarded by the dialplan and an optional PIN).
"""

from __future__ import annotations

from aiohttp import web

from router.daynight import who
from router.web.access import actor
from router.web.bodies import json_object
from router.web.keys import ROUTER_KEY


async def get_switch(request: web.Request) -> web.Response:
    return web.json_response(await request.app[ROUTER_KEY].daynight.state())


async def set_switch(request: web.Request) -> web.Response:
    body = await json_object(request, '{"switch": "night", "by": "duty supervisor"}')
    try:
        done = await request.app[ROUTER_KEY].daynight.set(str(body.get("switch", "")), who(actor(request, body)))
    except ValueError as e:
        return web.json_response({"error": str(e)}, status=400)
    return web.json_response(done)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/switch", get_switch)
    app.router.add_post("/api/switch", set_switch)
