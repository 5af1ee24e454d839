"""Bearer tokens: `/api/` needs `Bearer $ROUTER_API_TOKEN`, `/metrics` `Bearer $ROUTER_METRICS_TOKEN`,
once each is set; everything else (the pages, /healthz) is open.

`?token=` counts only on the event stream: EventSource cannot send headers, and a token in a
URL ends up in proxy logs and browser history, so nothing that changes state takes it. Tokens
are compared in constant time.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from router.web.keys import METRICS_TOKEN_KEY, TOKEN_KEY

STREAM_PATH = "/api/decisions/stream"


def bearer_ok(request: web.Request, token: str, query_allowed: bool = False) -> bool:
    given = request.headers.get("Authorization", "")
    if not given and query_allowed and request.query.get("token"):
        given = f"Bearer {request.query['token']}"
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@web.middleware
async def bearer_token(request: web.Request, handler):
    token = request.app.get(TOKEN_KEY)
    if token and request.path.startswith("/api/"):
        query_allowed = request.method == "GET" and request.path == STREAM_PATH
        if not bearer_ok(request, token, query_allowed):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    metrics_token = request.app.get(METRICS_TOKEN_KEY)
    if metrics_token and request.path == "/metrics" and not bearer_ok(request, metrics_token):
        return web.json_response({"error": "missing or wrong bearer token (ROUTER_METRICS_TOKEN)"}, status=401)
    return await handler(request)
