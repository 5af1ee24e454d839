"""The API's lists, a page at a time (router/web/paging.py): decisions, follow-ups, escalated
follow-ups, the at-risk list; and the per-owner counts.

`/api/decisions` keeps the shape it always had — a JSON array, newest first, what dashboards and
scripts read — and pages back with `cursor` too: the next page's address is in the `Link`
header (`<…&cursor=…>; rel="next"`, RFC 8288). The other lists answer `{"items", "next"}`.

An agent sees only his own (router/web/access.py): follow-ups owned by one of his names, and
the calls that rang or were answered on his phones or are his customers'. His decisions are the
page's entries that are his, so a page of them may hold fewer than `limit`: follow `Link`.
"""

from __future__ import annotations

import re

import orjson
from aiohttp import web

from router.web.access import principal
from router.web.bodies import bad_body
from router.web.keys import ROUTER_KEY
from router.web.paging import encode_cursor, one_list_at_a_time, page_request, page_response
from router.web.worklist import (
    CLOSED_SHAPE,
    ESCALATED_SHAPE,
    OPEN_SHAPE,
    closed_page,
    escalated_page,
    open_page,
)
from router.web.worklist import owner_counts as count_owners

DECISIONS_DEFAULT, DECISIONS_MAX = 50, 1000
LOG_ENTRY = re.compile(r"^\d{1,20}-\d{1,20}$")
"""A Redis stream entry id: where a page of the decision log goes on from."""
RISK_SHAPE = (float, str)
"""(rank, number): see router/state/risk.py."""


async def decisions(request: web.Request) -> web.Response:
    page = page_request(request.query, (str,), DECISIONS_DEFAULT, DECISIONS_MAX)
    before = page.after[0] if page.after else None
    if before is not None and not LOG_ENTRY.match(before):
        raise bad_body("cursor is not one this list gave: send back the one of the `Link` header as it came")
    async with one_list_at_a_time(request):
        entries, next_entry = await request.app[ROUTER_KEY].log.page(before, page.limit)
    asking = principal(request)
    if asking.scoped:
        entries = [e for e in entries if asking.owns_call(e)]
    headers = {}
    if next_entry is not None:
        url = request.rel_url.update_query(limit=page.limit, cursor=encode_cursor((next_entry,)))
        headers["Link"] = f'<{url}>; rel="next"'
    return web.Response(body=orjson.dumps(entries), content_type="application/json", headers=headers)


async def followups(request: web.Request) -> web.Response:
    state = request.query.get("state", "open")
    if state not in ("open", "overdue", "closed"):
        raise bad_body("state is open, overdue or closed")
    router = request.app[ROUTER_KEY]
    manager = request.query.get("manager") or None
    owners: frozenset[str] | None = frozenset({manager}) if manager else None
    asking = principal(request)
    if asking.scoped and asking.user is not None:
        mine = asking.user.owner_names
        owners = mine & owners if owners is not None else mine
    page = page_request(request.query, CLOSED_SHAPE if state == "closed" else OPEN_SHAPE)
    async with one_list_at_a_time(request):
        if state == "closed":
            items, next_key = await closed_page(router, owners, page)
        else:
            items, next_key = await open_page(router, state == "overdue", owners, page)
    return page_response(items, next_key)


async def escalated(request: web.Request) -> web.Response:
    """The head's view: open follow-ups that went up, level 1 first; `levels` says how many on each."""
    page = page_request(request.query, ESCALATED_SHAPE)
    async with one_list_at_a_time(request):
        items, next_key, levels = await escalated_page(request.app[ROUTER_KEY], page)
    return page_response(items, next_key, levels=levels)


async def owner_counts(request: web.Request) -> web.Response:
    async with one_list_at_a_time(request):
        counts = await count_owners(request.app[ROUTER_KEY])
    return web.json_response(counts)


async def risk(request: web.Request) -> web.Response:
    """Who is at risk, highest score first; `?day=YYYY-MM-DD`: those who entered the list that day."""
    page = page_request(request.query, RISK_SHAPE)
    try:
        async with one_list_at_a_time(request):
            entries, next_key = await request.app[ROUTER_KEY].risk.page(request.query.get("day") or None,
                                                                        page.after, page.limit)
    except ValueError:
        raise bad_body("day is YYYY-MM-DD") from None
    return page_response(entries, next_key)
