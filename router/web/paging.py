"""Paged lists: `?limit=N&cursor=C`, answered `{"items": [...], "next": "C2"}` (`"next": null` on the
last page).

Every list the API gives can grow with the business (10,000 customers at risk, a day's open
follow-ups, a directory of companies): each answer is one page, so that no request builds
megabytes of JSON on the event loop that answers calls. A cursor names the last item given by
its place in the list's order (a deadline and an id, a score and a number), not by an offset:
items added or removed meanwhile neither repeat nor go missing on the next page. Clients treat
it as opaque text (base64url of the JSON sort key) and send it back as they got it.

Lists are built one at a time (`one_list_at_a_time`, a semaphore on the application): readers
walking the largest lists at once queue behind each other, so that a call's turn of the event
loop (and its Redis round trip) waits behind one list's batch at most, never five.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson
from aiohttp import web

from router.web.bodies import bad_body
from router.web.keys import LIST_GATE_KEY

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
"""Items one page may hold: a page of the largest items (an at-risk customer with its signals) stays
under 1 MB of JSON."""

Key = tuple[Any, ...]
"""An item's place in its list's order: what a cursor carries."""


def one_list_at_a_time(request: web.Request) -> asyncio.Semaphore:
    """Held while a list (or the report) is read and built: `async with one_list_at_a_time(request): …`."""
    return request.app[LIST_GATE_KEY]


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    after: Key | None
    """The sort key of the last item of the previous page; None for the first page."""


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(text: str, shape: tuple[type, ...]) -> Key:
    """The sort key a cursor carries, checked against the list's `shape` (the type of each part)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError):
        key = None
    if not isinstance(key, list) or len(key) != len(shape) or not all(
            isinstance(v, t) and not (t is int and isinstance(v, bool)) for v, t in zip(key, shape, strict=True)):
        raise bad_body("cursor is not one this list gave: send back the `next` of the previous page as it came, "
                       "or leave cursor out for the first page")
    return tuple(key)


def page_request(query: Mapping[str, str], shape: tuple[type, ...], default: int = DEFAULT_LIMIT,
                 maximum: int = MAX_LIMIT) -> PageRequest:
    """`limit` and `cursor` of a list request; a 400 that says what to send when they are wrong."""
    text = query.get("limit", "")
    try:
        limit = int(text) if text else default
    except ValueError:
        raise bad_body(f"limit must be a whole number from 1 to {maximum}; got {text[:20]!r}") from None
    if not 1 <= limit <= maximum:
        raise bad_body(f"limit must be from 1 to {maximum}; got {limit}")
    cursor = query.get("cursor")
    return PageRequest(limit, decode_cursor(cursor, shape) if cursor else None)


def page_response(items: list, next_key: Sequence[Any] | None, **extra: Any) -> web.Response:
    """One page: its items, the cursor of the next page (None on the last), and `extra` fields."""
    body = {"items": items, "next": encode_cursor(next_key) if next_key is not None else None, **extra}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def take_page(keyed: Sequence[tuple[Key, Any]], request: PageRequest) -> tuple[list, Key | None]:
    """The page of an in-memory list sorted by key: the items after the cursor, and the next page's key."""
    start = 0 if request.after is None else bisect_right(keyed, request.after, key=itemgetter(0))
    chosen = keyed[start:start + request.limit]
    more = start + request.limit < len(keyed)
    return [item for _, item in chosen], chosen[-1][0] if more and chosen else None
