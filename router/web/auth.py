"""The metrics token: `/metrics` needs `Authorization: Bearer $ROUTER_METRICS_TOKEN` once it is set (a separate
token, so the Prometheus scraper never holds an API token). Who may use `/api/` is router/web/access.py's
business; the pages and /healthz are open. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from router.web.keys import METRICS_TOKEN_KEY

STREAM_PATH = "/api/decisions/stream"


def bearer_ok(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@web.middleware
async def bearer_token(request: web.Request, handler):
    metrics_token = request.app.get(METRICS_TOKEN_KEY)
    if metrics_token and request.path == "/metrics" and not bearer_ok(request, metrics_token):
        return web.json_response({"error": "missing or wrong bearer token (ROUTER_METRICS_TOKEN)"}, status=401)
    return await handler(request)
