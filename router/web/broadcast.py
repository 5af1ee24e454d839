"""Live events for the page, `router tail` and anyone else listening: decisions, outcomes, follow-ups.

The stream shares the event loop with routing, so what it costs per event must not grow with
the audience: each event is serialised once into its SSE frame and the same bytes are queued
for every subscriber; the number of subscribers is capped; a subscriber that falls a bounded
backlog behind is disconnected (the browser's EventSource reconnects by itself) instead of
making the router hold events for it. Drops are logged as one summary line a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import orjson

from router.floodlog import FloodLog

log = logging.getLogger("router.broadcast")

MAX_SUBSCRIBERS = 100
BACKLOG = 500
"""Events a subscriber may be behind before it is disconnected."""
DROPPED = "live-stream clients disconnected for falling behind"
REFUSED = "live-stream clients refused: subscriber limit reached"


def frame(event: dict) -> bytes:
    """One server-sent event: `event: <type>` and the JSON body."""
    return b"event: " + str(event.get("type", "message")).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class Subscriber:
    """One listener's queue of ready-made frames; `None` in it means the stream ends."""

    __slots__ = ("_ready", "dropped", "frames", "on_drop")

    def __init__(self, on_drop: Callable[[], None] | None = None):
        self.frames: deque[bytes | None] = deque()
        self.dropped = False
        self.on_drop = on_drop
        self._ready = asyncio.Event()

    def push(self, item: bytes | None) -> None:
        self.frames.append(item)
        self._ready.set()

    async def next(self) -> bytes | None:
        """The next frame; `None` once the stream ends or this subscriber was dropped."""
        while not self.frames:
            if self.dropped:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self.frames.popleft()

    def drop(self) -> None:
        """Fallen too far behind: forget what waits, end its stream, cut its connection."""
        self.dropped = True
        self.frames.clear()
        self._ready.set()
        if self.on_drop is not None:
            self.on_drop()


class Broadcast:
    """Fan-out to subscribers; a subscriber that stops reading is dropped, never blocks the router."""

    def __init__(self, max_subscribers: int = MAX_SUBSCRIBERS, backlog: int = BACKLOG) -> None:
        self.max_subscribers = max_subscribers
        self.backlog = backlog
        self.subscribers: set[Subscriber] = set()
        self.flood = FloodLog(log, "live stream")

    def publish(self, event: dict) -> None:
        if not self.subscribers:
            return
        data = frame(event)
        for s in list(self.subscribers):
            if len(s.frames) >= self.backlog:
                self._drop(s)
            else:
                s.push(data)

    def close(self) -> None:
        """Tell every subscriber the stream ends (server shutdown)."""
        for s in list(self.subscribers):
            s.push(None)
        self.flood.flush()

    def subscribe(self, on_drop: Callable[[], None] | None = None) -> Subscriber | None:
        """A new subscriber, or None at the limit. `on_drop` cuts its connection if it falls behind."""
        if len(self.subscribers) >= self.max_subscribers:
            self.flood.note(REFUSED, f"{self.max_subscribers} connected")
            return None
        s = Subscriber(on_drop)
        self.subscribers.add(s)
        return s

    def unsubscribe(self, s: Subscriber) -> None:
        self.subscribers.discard(s)

    def _drop(self, s: Subscriber) -> None:
        self.subscribers.discard(s)
        s.drop()
        self.flood.note(DROPPED, f"{self.backlog} events behind")
