"""Live events for the page, `router tail` and anyone else listening: decisions, outcomes, follow-ups."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("router.broadcast")

QUEUE_SIZE = 1000


class Broadcast:
    """Fan-out to subscribers; a subscriber that stops reading loses events, never blocks the router."""

    def __init__(self) -> None:
        self.subscribers: set[asyncio.Queue] = set()

    def publish(self, event: dict) -> None:
        for q in list(self.subscribers):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("live event dropped for a slow subscriber (%d waiting)", q.qsize())

    def close(self) -> None:
        """Tell every subscriber the stream ends (server shutdown)."""
        for q in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.subscribers.discard(q)
