"""What every router instance shares through the store: the live events of all of them.

Each instance writes its decisions (the decision log), the outcomes it recorded and its
follow-up changes (the `events` stream); each reads the `events` stream always and, while
someone watches its live page or event stream, the decisions and outcomes too, and passes on
the other instances' entries. Unwatched, a router does not read every decision back from
Redis only to find it is its own. Device states and numbering reloads travel the `events`
stream and keep a cluster router's copy of them (`LocalView`) current. A staged rollout of new
rules travels it too: the router is told (`react`) when another instance changed it, and each
time the reader (re)connects (`on_ready`), so that it reads the rollout again after missing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable

import orjson

from router.state.address import connect
from router.state.base import Client
from router.state.store import Store
from router.state.writer import write_forever

log = logging.getLogger("router.feed")
BLOCK_MS = 1000
GATHER = 0.05
"""Seconds to let entries gather after a read that found some: one read for a batch, not one per call."""
OUTBOX_MAX = 10_000
SHARED_STATE = frozenset({"device", "numbering", "companies", "strategy", "rollout"})
"""Events that change what routers read, not what their pages show."""
REACTED = frozenset({"rollout"})
"""Events from other instances the router acts on itself (`Feed.react`)."""


class Feed:
    def __init__(self, store: Store, publish: Callable[[dict], None],
                 watched: Callable[[], bool] = lambda: True, react: Callable[[dict], None] | None = None,
                 on_ready: Callable[[], None] | None = None):
        self.store = store
        self.publish = publish
        self.watched = watched
        self.react = react
        """Told of another instance's REACTED events (on the loop: it must not wait)."""
        self.on_ready = on_ready
        """Called each time the reader has (re)connected: what it may have missed is read again."""
        """Whether anyone listens to the relayed decisions and outcomes (see `watch`)."""
        self._relay: dict[str, str] | None = None
        """While relaying: where the reader stands in the decisions and outcomes streams (set by
        `watch`, dropped by the reader once nobody watches)."""
        self._watching: asyncio.Task | None = None
        self.outbox: deque[dict] = deque(maxlen=OUTBOX_MAX)
        self.read: Counter[str] = Counter()
        """Entries read, by stream."""
        self.ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._reader: Client = None
        self._close: Callable[[], Awaitable[None]] | None = None
        self._stopping = False
        """Set by `stop`: the reader ends by itself even if a cancel is lost inside redis-py."""

    def share(self, event: dict) -> None:
        """Send an event of this instance to the others (off the caller's path, kept while the store is away)."""
        self.outbox.append(event)
        self._wake.set()

    def start(self) -> None:
        if self.store.address is not None:  # its own connection: a blocking read must not hold a shared one
            conn = connect(self.store.address, timeout=BLOCK_MS / 1000 + 2)
            self._reader, self._close = conn.client, conn.close
        else:
            self._reader = self.store.r
        self._tasks = [asyncio.create_task(self._read_forever(), name="feed-reader"),
                       asyncio.create_task(write_forever(self._wake, self._flush, lambda: len(self.outbox), log,
                                                         "live events"), name="feed-writer")]

    async def stop(self) -> None:
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        if self._tasks:  # redis-py can miss a cancel that lands while it connects: never wait long for it
            await asyncio.wait(self._tasks, timeout=1)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                await self._flush()
            if self._close is not None:
                async with asyncio.timeout(1):
                    await self._close()

    async def _flush(self) -> None:
        while self.outbox:
            batch = list(self.outbox)[:100]
            await self.store.share(batch)
            for _ in batch:
                self.outbox.popleft()

    async def watch(self) -> None:
        """Someone started listening: relay the other instances' decisions and outcomes from now on.
        Awaited before the listener is told it is subscribed, so that nothing newer is missed; the
        reader takes these positions when its current wait on the events stream ends (within 1 s).
        Listeners arriving together share one lookup (a hundred pages opening must not open a
        hundred connections to Redis)."""
        if self._relay is not None:
            return
        if self._watching is None:
            self._watching = asyncio.create_task(self._relay_from_now(), name="feed-watch")
        await asyncio.shield(self._watching)

    async def _relay_from_now(self) -> None:
        k = self.store.k
        positions = {k.decisions: "$", k.outcomes: "$"}
        try:
            with contextlib.suppress(Exception):  # no store now: relay what comes once it is back
                async with asyncio.timeout(1):
                    for key in positions:
                        positions[key] = await _newest(self.store.r, key)
            self._relay = positions
        finally:
            self._watching = None

    def _streams_to_read(self, live: dict[str, str]) -> dict[str, str]:
        if self._relay is not None and not self.watched():
            self._relay = None
        return {**live, **self._relay} if self._relay is not None else live

    async def _read_forever(self) -> None:
        k = self.store.k
        r = self._reader
        delay = 0.2
        while not self._stopping:
            try:
                live = {k.live: await _newest(r, k.live)}
                if self._relay is not None:  # relaying when the store went away: on from where it is now
                    for key in self._relay:
                        self._relay[key] = await _newest(r, key)
                load_view = getattr(self.store, "load_view", None)
                if load_view is not None:  # a cluster router's copy of the shared keys, read afresh
                    await load_view()
                self.ready.set()
                if self.on_ready is not None:
                    self.on_ready()
                if delay > 0.2:
                    log.info("live events: reading the shared streams again")
                delay = 0.2
                while not self._stopping:
                    got = await r.xread(self._streams_to_read(live), count=500, block=BLOCK_MS)
                    for key, entries in _streams(got):
                        at = live if key == k.live else self._relay
                        for entry_id, fields in entries:
                            if at is not None:
                                at[key] = entry_id
                            self._take(key, fields)
                    if got:
                        await asyncio.sleep(GATHER)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.ready.clear()
                if self._stopping:
                    return
                if delay == 0.2:
                    log.warning("live events: store unreachable (%s); other instances' events wait", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _take(self, key: str, fields: dict) -> None:
        k = self.store.k
        mine = self.store.instance
        self.read[key] += 1
        if key == k.decisions:
            if fields.get("i") == mine:
                return
            e = orjson.loads(fields["d"])
            if e.get("instance") != mine:  # written before decisions carried `i`
                self.publish({"type": "decision", "decision": e})
        elif key == k.outcomes:
            if fields.get("i") != mine:
                self.publish({"type": "outcome", "outcome": orjson.loads(fields["o"])})
        else:
            e = orjson.loads(fields["e"])
            view = getattr(self.store, "view", None)
            if view is not None and view.apply(e):
                self._tasks.append(asyncio.create_task(self.store.load_view(e["type"])))  # type: ignore[attr-defined]
            if fields.get("i") != mine and e["type"] not in SHARED_STATE:
                self.publish(e)
            if fields.get("i") != mine and e["type"] in REACTED and self.react is not None:
                self.react(e)


async def _newest(r, key: str) -> str:
    """The id of a stream's newest entry: reading after it reads what comes from now on."""
    newest = await r.xrevrange(key, count=1)
    return newest[0][0] if newest else "0-0"


def _streams(reply) -> list:
    """XREAD: a dict under RESP3, [[key, entries], …] under RESP2."""
    if isinstance(reply, dict):
        return list(reply.items())
    return reply or []
