"""The HTTP side: routes for health, the decision log, rule reload, follow-ups, events, reports,
the live stream and the pages; the handlers that are a few lines each live here."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from importlib import resources

from aiohttp import web
from aiohttp_session import session_middleware

from router.asterisk.agi import FastAGIServer
from router.asterisk.ami import Listener
from router.crm.sync import CrmSync
from router.people.hub import People
from router.reports.reader import agents_csv_chunks, calls_csv_chunks, parse_range, report
from router.risk.events import parse_batch
from router.service import Router
from router.state.store import Store
from router.wallboard.live import Wallboard
from router.web import callbacks, changes, directory, lists, login, people, strategy, switch, wallboard
from router.web.access import access, actor
from router.web.auth import STREAM_PATH, bearer_token
from router.web.bodies import json_object, optional_object, read_json
from router.web.health import healthz
from router.web.keys import AGI_KEY, AMI_KEY, CRM_KEY, LIST_GATE_KEY, METRICS_TOKEN_KEY, ROUTER_KEY, TOKEN_KEY
from router.web.metrics import metrics
from router.web.paging import one_list_at_a_time
from router.web.session import SESSION_SECONDS, session_hours, session_key, storage
from router.web.sse import event_stream, refused, relay

log = logging.getLogger("router.web")

CALL_TYPE_EXAMPLE = '{"type": "payment", "by": "ivanov"}'
MAX_EVENTS = 500
"""Events per POST: a bigger import goes through `router events import` or several requests."""
PAGE = resources.files("router").joinpath("data/index.html")
REPORT_PAGE = resources.files("router").joinpath("data/report.html")




async def followup(request: web.Request) -> web.Response:
    task = await request.app[ROUTER_KEY].store.task(request.match_info["id"])
    if not task:
        return web.json_response({"error": "no such follow-up"}, status=404)
    return web.json_response(task)


async def close_followup(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    task_id = request.match_info["id"]
    who = actor(request, await optional_object(request, '{"by": "ivanov"}'))
    closed = await router.followups.close(task_id, f"closed by hand{' by ' + who if who else ''}")
    if not closed:
        task = await router.store.task(task_id)
        return web.json_response({"error": "no such follow-up" if not task else "already closed"},
                                 status=404 if not task else 409)
    return web.json_response({"closed": True, "id": task_id})


async def call_types(request: web.Request) -> web.Response:
    """The call types a person may give a call, in the rules' order, with their labels (the page's picker)."""
    rs = request.app[ROUTER_KEY].rules.rs
    return web.json_response([{"name": n, "label": rs.type_label(n)} for n in rs.correctable_types()])


async def set_call_type(request: web.Request) -> web.Response:
    """`{"type": "payment", "by": "ivanov"}`: set or correct the type of the call this decision routed."""
    body = await json_object(request, CALL_TYPE_EXAMPLE)
    if "type" not in body:
        return web.json_response({"error": f"the body must be JSON like {CALL_TYPE_EXAMPLE}"}, status=400)
    call_type, who = str(body["type"]), actor(request, body)
    try:
        done = await request.app[ROUTER_KEY].set_call_type(request.match_info["id"], call_type, who)
    except ValueError as e:
        return web.json_response({"error": str(e)}, status=422)
    if done is None:
        return web.json_response({"error": "no such call (unknown decision, or older than the raw-call window)"},
                                 status=404)
    return web.json_response(done)


async def take_followup(request: web.Request) -> web.Response:
    who = actor(request, await optional_object(request, '{"by": "petrova"}'))
    if not who:
        return web.json_response({"error": "say who takes it: {\"by\": \"petrova\"}"}, status=400)
    if not await request.app[ROUTER_KEY].followups.take(request.match_info["id"], who):
        return web.json_response({"error": "no such open follow-up"}, status=409)
    return web.json_response({"taken": True, "owner": who})


async def comment_followup(request: web.Request) -> web.Response:
    body = await optional_object(request, '{"by": "petrova", "text": "…"}')
    text = str(body.get("text", "")).strip()[:2000]
    if not text:
        return web.json_response({"error": "a comment needs text: {\"by\": \"petrova\", \"text\": \"…\"}"},
                                 status=400)
    router = request.app[ROUTER_KEY]
    if not await router.followups.comment(request.match_info["id"], actor(request, body), text):
        return web.json_response({"error": "no such follow-up"}, status=404)
    return web.json_response({"commented": True})


async def post_events(request: web.Request) -> web.Response:
    """A batch of customer events; each checked on its own, sent-again ids counted once."""
    router = request.app[ROUTER_KEY]
    body = await read_json(request, 'JSON: a list of events or {"events": [...]}')
    items = body.get("events") if isinstance(body, dict) else body
    if not isinstance(items, list) or len(items) > MAX_EVENTS:
        return web.json_response({"error": f"send a list of at most {MAX_EVENTS} events, each "
                                           "{id, number, kind, at, value}"}, status=400)
    rules = router.rules
    batch = parse_batch(items, rules.rs.risk, rules.company_zone, rules.region, router.clock())
    added = await router.risk.add(batch.events)
    return web.json_response({"received": len(items), "new": added, "repeated": len(batch.events) - added,
                              "problems": batch.problems}, status=200 if batch.events or not items else 422)


def _days(request: web.Request) -> list[str]:
    q = request.query
    router = request.app[ROUTER_KEY]
    return parse_range(q.get("day"), q.get("from"), q.get("to"), router.rules, router.clock())


async def report_json(request: web.Request) -> web.Response:
    """`?day=YYYY-MM-DD` or `?from=…&to=…` (company days; today by default): the report the CLI prints."""
    router = request.app[ROUTER_KEY]
    try:
        days = _days(request)
    except ValueError as e:
        return web.json_response({"error": str(e)}, status=400)
    async with one_list_at_a_time(request):
        built = await report(router.store, router.rules, days, router.clock())
    return web.json_response(built)


async def report_calls(request: web.Request) -> web.StreamResponse:
    """The raw calls of the days as CSV, streamed 1,000 rows at a time."""
    return await _stream_csv(request, "calls", calls_csv_chunks)


async def report_agents(request: web.Request) -> web.StreamResponse:
    """The queue members' states and marks of the days (the agent log) as CSV, streamed 1,000 rows at a time."""
    return await _stream_csv(request, "agents", agents_csv_chunks)


async def _stream_csv(request: web.Request, what: str,
                      chunks_of: Callable[[Store, list[str]], AsyncIterator[str]]) -> web.StreamResponse:
    try:
        days = _days(request)
    except ValueError as e:
        return web.json_response({"error": str(e)}, status=400)
    name = days[0] if len(days) == 1 else f"{days[0]}_{days[-1]}"
    resp = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8",
                                       "Content-Disposition": f'attachment; filename="{what}-{name}.csv"'})
    await resp.prepare(request)
    chunks = chunks_of(request.app[ROUTER_KEY].store, days)
    while True:
        async with one_list_at_a_time(request):  # a batch at a time: a slow download holds up no other list
            chunk = await anext(chunks, None)
        if chunk is None:
            break
        await resp.write(chunk.encode())
    await resp.write_eof()
    return resp


async def report_page(request: web.Request) -> web.Response:
    return web.Response(body=REPORT_PAGE.read_bytes(), content_type="text/html", charset="utf-8")


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: decisions, call outcomes and follow-up changes as they happen."""
    broadcast = request.app[ROUTER_KEY].broadcast
    transport = request.transport
    sub = broadcast.subscribe(on_drop=transport.abort if transport is not None else None)
    if sub is None:
        return refused(f"{broadcast.max_subscribers} live-stream clients are connected, the most this router "
                       "serves; close a page or use /api/decisions")
    resp = event_stream()
    try:
        await request.app[ROUTER_KEY].feed.watch()
        await resp.prepare(request)
        await resp.write(b": connected\n\n")
        await relay(resp, sub)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        broadcast.unsubscribe(sub)
    return resp


async def page(request: web.Request) -> web.Response:
    return web.Response(body=PAGE.read_bytes(), content_type="text/html", charset="utf-8")


def make_app(router: Router, token: str | None = None, metrics_token: str | None = None,
             agi: FastAGIServer | None = None, ami: Listener | None = None,
             crm: CrmSync | None = None, people_side: People | None = None,
             wall: Wallboard | None = None) -> web.Application:
    """The application; SessionKeyError for a ROUTER_SESSION_KEY or ROUTER_SESSION_HOURS that cannot be used."""
    key, warning = session_key()
    if warning:
        log.warning("%s", warning)
    seconds = session_hours() * 3600
    app = web.Application(middlewares=[session_middleware(storage(key, seconds)), bearer_token, access],
                          client_max_size=64 * 1024)
    app[SESSION_SECONDS] = seconds
    app[ROUTER_KEY] = router
    app[LIST_GATE_KEY] = asyncio.Semaphore(1)
    if agi is not None:
        app[AGI_KEY] = agi
    if ami is not None:
        app[AMI_KEY] = ami
    if crm is not None:
        app[CRM_KEY] = crm
    token = token if token is not None else os.environ.get("ROUTER_API_TOKEN")
    if token:
        app[TOKEN_KEY] = token
    metrics_token = metrics_token if metrics_token is not None else os.environ.get("ROUTER_METRICS_TOKEN")
    if metrics_token:
        app[METRICS_TOKEN_KEY] = metrics_token
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/decisions", lists.decisions)
    app.router.add_get(STREAM_PATH, stream)
    app.router.add_get("/api/followups", lists.followups)
    app.router.add_get("/api/followups/counts", lists.owner_counts)
    app.router.add_get("/api/followups/escalated", lists.escalated)
    app.router.add_post("/api/followups/{id}/take", take_followup)
    app.router.add_post("/api/followups/{id}/comment", comment_followup)
    app.router.add_post("/api/events", post_events)
    app.router.add_get("/api/risk", lists.risk)
    app.router.add_get("/api/followups/{id}", followup)
    app.router.add_post("/api/followups/{id}/close", close_followup)
    app.router.add_get("/api/types", call_types)
    app.router.add_post("/api/calls/{id}/type", set_call_type)
    app.router.add_get("/api/report", report_json)
    app.router.add_get("/api/report/calls.csv", report_calls)
    app.router.add_get("/api/report/agents.csv", report_agents)
    app.router.add_get("/report", report_page)
    app.router.add_get("/metrics", metrics)
    directory.add_routes(app)
    callbacks.add_routes(app)
    strategy.add_routes(app)
    switch.add_routes(app)
    changes.add_routes(app)
    login.add_routes(app)
    people.add_routes(app, people_side or People(router))
    wallboard.add_routes(app, wall or Wallboard(router))
    app.router.add_get("/", page)
    return app
