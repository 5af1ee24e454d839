"""The HTTP side: health, the decision log, rule reload."""

from __future__ import annotations

import asyncio
import hmac
import os

from aiohttp import web

from router.service import Router

ROUTER_KEY = web.AppKey("router", Router)
TOKEN_KEY = web.AppKey("token", str)
MAX_LIMIT = 1000


@web.middleware
async def bearer_token(request: web.Request, handler):
    """Every /api/ route needs `Authorization: Bearer $ROUTER_API_TOKEN` once that variable is set."""
    token = request.app.get(TOKEN_KEY)
    if token and request.path.startswith("/api/"):
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    try:
        async with asyncio.timeout(1.0):
            await router.store.ping()
        store = "up"
    except Exception as e:
        store = f"down: {type(e).__name__}"
    body = {"status": "ok" if store == "up" else "degraded", "store": store,
            "rules": router.rules.source, "rule_count": len(router.rules.rules),
            "decisions": router.decisions, "fallbacks": router.fallbacks,
            "log_pending": len(router.log.pending)}
    return web.json_response(body, status=200 if store == "up" else 503)


async def decisions(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        return web.json_response({"error": "limit must be a whole number"}, status=400)
    if not 1 <= limit <= MAX_LIMIT:
        return web.json_response({"error": f"limit must be between 1 and {MAX_LIMIT}"}, status=400)
    return web.json_response(await request.app[ROUTER_KEY].log.newest(limit))


async def reload_rules(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    problems = router.reload()
    if problems:
        return web.json_response({"reloaded": False, "problems": problems,
                                  "in_force": router.rules.source}, status=422)
    return web.json_response({"reloaded": True, "rules": len(router.rules.rules)})


def make_app(router: Router, token: str | None = None) -> web.Application:
    app = web.Application(middlewares=[bearer_token], client_max_size=64 * 1024)
    app[ROUTER_KEY] = router
    token = token if token is not None else os.environ.get("ROUTER_API_TOKEN")
    if token:
        app[TOKEN_KEY] = token
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/decisions", decisions)
    app.router.add_post("/api/rules/reload", reload_rules)
    return app
