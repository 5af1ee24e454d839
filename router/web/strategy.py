"""HTTP routes for the company's strategy: read it, switch it at runtime without editing the rule file."""

from __future__ import annotations

from aiohttp import web

from router.core.rules import STRATEGIES
from router.web.access import actor
from router.web.bodies import json_object
from router.web.keys import ROUTER_KEY


async def get_strategy(request: web.Request) -> web.Response:
    return web.json_response(await request.app[ROUTER_KEY].strategy())


async def set_strategy(request: web.Request) -> web.Response:
    body = await json_object(request, '{"strategy": "retention", "by": "head of sales"}')
    strategy = body.get("strategy")
    if strategy not in STRATEGIES:
        return web.json_response({"error": f"strategy must be one of {', '.join(STRATEGIES)}"}, status=400)
    by = "".join(ch for ch in actor(request, body) if ch.isprintable())
    return web.json_response(await request.app[ROUTER_KEY].set_strategy(strategy, by))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/strategy", get_strategy)
    app.router.add_post("/api/strategy", set_strategy)
