"""HTTP routes for callbacks: `POST /api/followups/{id}/call` rings the signed-in person's phone, then the task's
customer (router/followups/callbacks.py says what is checked first); `GET /api/me/next-callback` is the preview
worklist's offer, the next task the person may call now.

Who is rung: the signed-in person (a session or a personal token). The shared admin token and the open mode,
where nobody is signed in, name the person in the body: `{"by": "ivanov"}`.
"""

from __future__ import annotations

from aiohttp import web

from router.people.staff import phone_of
from router.web.access import actor, principal
from router.web.bodies import optional_object
from router.web.keys import ROUTER_KEY

EXAMPLE = '{"by": "ivanov"}'


async def call(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    body = await optional_object(request, EXAMPLE)
    p = principal(request)
    user = p.user
    if user is None:
        who = actor(request, body)
        found = await router.store.user(who) if who else None
        user = found[0] if found is not None else None
        if user is None and who not in router.rules.rs.managers:
            return web.json_response({"error": f"say whose phone rings: {EXAMPLE} (an account or a manager of the "
                                               "rule file)"}, status=400)
        device = phone_of(user, router.rules) if user is not None else router.rules.rs.managers[who].endpoint
    else:
        who, device = user.name, phone_of(user, router.rules)
    result = await router.callbacks.call(request.match_info["id"], device, who)
    return web.json_response(result.record(), status=result.http_status)


async def next_callback(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    user = principal(request).user
    if user is None:
        return web.json_response({"error": "sign in: the next callback is a person's own"}, status=400)
    offer = await router.dialler.offer(user)
    return web.json_response(offer)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/followups/{id}/call", call)
    app.router.add_get("/api/me/next-callback", next_callback)
