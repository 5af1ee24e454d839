"""The CRM's request rate, shared by every router on the store.

Bitrix24 counts a portal's requests in a leaky bucket: 2 requests a second drain it (5 on
Enterprise), 50 (250) fill it, past that every request is refused with `503 QUERY_LIMIT_EXCEEDED`
(https://apidocs.bitrix24.com/limits.html); amoCRM allows 7 a second per integration. Several
routers send to the same portal, so the pace is kept in Redis: each request takes one of the
`per_second` places of a wall-clock second (`Store.rate_slot`), the first second with a place left,
and waits for it. A second's places are counted across routers, so the portal never sees more than
`per_second` requests in any second from all of them together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from router.state.crm import CrmMixin

LOOK_AHEAD = 300
"""Seconds ahead a request looks for a free place (each router sends at most 32 at once) before it is tried later."""


class RateLimited(Exception):
    """No place within LOOK_AHEAD seconds: the request is tried again later."""


class SharedRate:
    def __init__(self, store: CrmMixin, name: str, per_second: Callable[[], int], clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.store = store
        self.name = name
        self.per_second = per_second
        self.clock = clock
        self.sleep = sleep

    async def wait(self) -> None:
        """Until this request's place comes (at once when the current second has one)."""
        now = self.clock()
        limit = self.per_second()
        for second in range(int(now), int(now) + LOOK_AHEAD):
            if await self.store.rate_slot(self.name, second, limit, keep=int(second - now) + 10):
                if second > now:
                    await self.sleep(second - now)
                return
        raise RateLimited(f"no free place for a request to {self.name} within {LOOK_AHEAD} s")
