"""HTTP routes of the people side: an agent's own page (`/me`) and what it reads — his work
(`/api/me/work`) and his own live stream (`/api/me/stream`: the caller's card when his phone rings, a
nudge when his work changes) — and a head's reassigning of a task (`/api/followups/{id}/assign`).
"""

from __future__ import annotations

import asyncio
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from router.people.accounts import AccountError, check_name
from router.people.hub import People
from router.people.mywork import my_work
from router.web.access import actor, principal
from router.web.bodies import json_object
from router.web.keys import ROUTER_KEY
from router.web.sse import event_stream, refused, relay

PAGE = resources.files("router").joinpath("data/me.html")
PEOPLE_KEY = web.AppKey("people", People)
ASSIGN_EXAMPLE = '{"to": "petrova"}'


async def me_page(request: web.Request) -> web.Response:
    return web.Response(body=PAGE.read_bytes(), content_type="text/html", charset="utf-8")


async def work(request: web.Request) -> web.Response:
    p = principal(request)
    if p.user is None:
        return web.json_response({"error": "my work is a signed-in person's (or one with an API token of "
                                           "their own); the shared token is nobody"}, status=400)
    router = request.app[ROUTER_KEY]
    try:
        zone = ZoneInfo(p.user.zone) if p.user.zone else router.rules.company_zone
    except (ZoneInfoNotFoundError, ValueError):
        zone = router.rules.company_zone
    return web.json_response(await my_work(router.store, router.followups, p.user, p.devices, zone, router.clock()))


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events for one person: `card` and `work`; never another person's."""
    p = principal(request)
    if p.user is None:
        return web.json_response({"error": "a personal stream needs a signed-in person"}, status=400)
    streams = request.app[PEOPLE_KEY].streams
    if p.user.name not in request.app[PEOPLE_KEY].staff.last.users:
        request.app[PEOPLE_KEY].staff.invalidate()  # an account made moments ago: its first ring finds it
    transport = request.transport
    sub = streams.subscribe(p.user.name, on_drop=transport.abort if transport is not None else None)
    if sub is None:
        return refused("too many pages open on this router; close one")
    resp = event_stream()
    try:
        await resp.prepare(request)
        await resp.write(b": connected\n\n")
        await relay(resp, sub)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        streams.unsubscribe(p.user.name, sub)
    return resp


async def assign(request: web.Request) -> web.Response:
    """A head gives an open task to someone else; the new owner is told, the task's log says who did it."""
    body = await json_object(request, ASSIGN_EXAMPLE)
    try:
        to = check_name(str(body.get("to", "")).strip())
    except AccountError as e:
        return web.json_response({"error": f"{e}; send {ASSIGN_EXAMPLE}"}, status=400)
    router = request.app[ROUTER_KEY]
    by = actor(request, body) or "someone unnamed"
    task_id = request.match_info["id"]
    previous = await router.store.reassign_task(task_id, to, by, router.clock())
    if previous is None:
        task = await router.store.task(task_id)
        return web.json_response({"error": "no such follow-up" if not task else "not open"},
                                 status=404 if not task else 409)
    await router.followups.announce("assigned", task_id)
    return web.json_response({"assigned": to, "previous": previous, "by": by})


def add_routes(app: web.Application, people: People) -> None:
    app[PEOPLE_KEY] = people

    async def started(app: web.Application) -> None:
        await people.start()

    async def closing(app: web.Application) -> None:
        people.streams.close()  # the pages' streams end now, so the server's shutdown does not wait for them

    async def stopped(app: web.Application) -> None:
        await people.stop()

    app.on_startup.append(started)
    app.on_shutdown.append(closing)
    app.on_cleanup.append(stopped)
    app.router.add_get("/me", me_page)
    app.router.add_get("/api/me/work", work)
    app.router.add_get("/api/me/stream", stream)
    app.router.add_post("/api/followups/{id}/assign", assign)
