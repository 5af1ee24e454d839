"""Calls share a few Redis connections: each call's commands are pipelined onto one of them.

A pool that gives every call a connection of its own runs out under a burst (and a call that
cannot get one falls back), and keeps connections that died while idle until a call trips on
them. Here a small fixed set of connections carries every call: a call writes its commands and
waits for its replies, which Redis returns in order on that connection. Each connection has a
reader that is always listening, so a connection Redis closed (a restart) is known dead at once
and the next call opens a fresh one; a call that loses its connection mid-way is retried once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as StoreConnectionError
from redis.exceptions import InvalidResponse, ResponseError

CONNECTIONS = 2
"""Connections shared by all calls: Redis answers a pipelined burst of a thousand calls on one."""
PATIENCE = 4
"""A call whose budget ran out while Redis was still answering the calls queued ahead of it waits on,
up to this many budgets: the store is working, and the router's own loop was what was slow."""
STALL_SECONDS = 2.0
"""A connection whose oldest request has had no reply for this long is taken for dead."""
CONNECT_SECONDS = 1.0
READ_CHUNK = 256 * 1024

Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass(slots=True)
class _Request:
    future: asyncio.Future
    expected: int
    sent: float
    replies: list = field(default_factory=list)


class _Link:
    """One connection: requests written in order, replies matched to them in order by its reader."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, encoding: str | None):
        self.reader = reader
        self.writer = writer
        self.pending: deque[_Request] = deque()
        self.dead: Exception | None = None
        self.answered_at = 0.0
        kw = {"encoding": encoding, "errors": "replace"} if encoding else {}
        self.parser = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError, **kw)
        self.task = asyncio.create_task(self._read(), name="store-reader")
        self.outgoing: list[bytes] = []
        """Requests of this turn of the event loop, written together at its end: one send() for a burst."""

    def send(self, packed: bytes, expected: int) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.pending and now - self.pending[0].sent > STALL_SECONDS:
            self.kill(StoreConnectionError(f"Redis sent no reply for {STALL_SECONDS:.0f} s"))
        if self.dead is None and self.writer.is_closing():
            self.kill(StoreConnectionError("connection to Redis closed"))
        if self.dead is not None:
            raise self.dead
        if not self.outgoing:
            loop.call_soon(self._write_out)
        self.outgoing.append(packed)
        fut = loop.create_future()
        self.pending.append(_Request(fut, expected, now))
        return fut

    def _write_out(self) -> None:
        data, self.outgoing = b"".join(self.outgoing), []
        if self.dead is None:
            self.writer.write(data)

    async def _read(self) -> None:
        try:
            while True:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    raise StoreConnectionError("Redis closed the connection")
                self.parser.feed(data)
                self.answered_at = asyncio.get_running_loop().time()
                while (reply := self.parser.gets()) is not False:
                    if not self.pending:
                        raise InvalidResponse("a reply nobody asked for")
                    req = self.pending[0]
                    req.replies.append(reply)
                    if len(req.replies) == req.expected:
                        self.pending.popleft()
                        if not req.future.done():  # a call past its budget no longer waits
                            req.future.set_result(req.replies)
        except asyncio.CancelledError:
            self.kill(StoreConnectionError("store closed"))
            raise
        except Exception as e:
            self.kill(e if isinstance(e, StoreConnectionError) else StoreConnectionError(str(e) or repr(e)))

    def kill(self, why: Exception) -> None:
        """Fail every waiting request and close: nothing more is read from or written to this one."""
        if self.dead is None:
            self.dead = why
        while self.pending:
            req = self.pending.popleft()
            if not req.future.done():
                req.future.set_exception(why)
        self.writer.close()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        self.kill(StoreConnectionError("store closed"))
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class SharedConnections:
    """A few connections that every call's round trip is pipelined onto."""

    def __init__(self, opener: Opener, setup: Sequence[tuple[Any, ...]] = (), encoding: str | None = "utf-8",
                 size: int = CONNECTIONS):
        self.opener = opener
        self.setup = list(setup)
        self.encoding = encoding
        self.links: list[_Link | None] = [None] * size
        self.connecting: list[asyncio.Task | None] = [None] * size
        self._next = itertools.cycle(range(size))
        self.reconnects = 0

    async def execute(self, commands: list[tuple], budget: float | None = None, retry: bool = True) -> list:
        """Replies to `commands` in order (ResponseError instances among them); retried once on a
        connection that died under it — so the commands must be safe to run twice, or `retry` False.

        With a `budget` (seconds), TimeoutError once it is spent with Redis silent: connecting
        counts, and so does the retry.
        """
        loop = asyncio.get_running_loop()
        budget_ends = None if budget is None else loop.time() + budget
        pack = hiredis.pack_command
        packed = b"".join([pack(c) for c in commands])
        slot = next(self._next)
        try:
            return await self._on(slot, packed, len(commands), budget_ends, budget)
        except StoreConnectionError:
            if not retry:
                raise
            self.reconnects += 1
            return await self._on(slot, packed, len(commands), budget_ends, budget)

    async def _on(self, slot: int, packed: bytes, expected: int, budget_ends: float | None,
                  budget: float | None) -> list:
        link = self.links[slot]
        if link is None or link.dead is not None:
            link = await self._connect(slot, budget_ends)
        fut = link.send(packed, expected)
        if budget_ends is None:
            return await fut
        loop = asyncio.get_running_loop()
        sent = loop.time()
        hard_end = sent + PATIENCE * (budget or 0)
        expired = False
        timer: asyncio.Handle

        def check() -> None:
            """At the budget's end: wait on while Redis is answering the calls ahead, else give up."""
            nonlocal timer
            if fut.done():
                return
            now = loop.time()
            if link.dead is None and link.answered_at > sent and now < hard_end:
                later = min(hard_end, link.answered_at + (budget or 0))
                if later > now:
                    timer = loop.call_at(later, check)
                    return
            timer = loop.call_soon(give_up)  # one more turn: a reply already read still reaches its call

        def give_up() -> None:
            nonlocal expired
            if not fut.done():
                expired = True
                fut.cancel()  # the reader drops the reply when it comes

        # one timer, not asyncio.wait's waiter and callbacks: this runs for every call
        timer = loop.call_at(budget_ends, check)
        try:
            return await fut
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not expired or (task is not None and task.cancelling()):
                raise  # the task itself is being cancelled: that must reach it, even if the budget also ran out
            raise TimeoutError(f"Redis sent no reply within {budget * 1000:.0f} ms" if budget else "no reply") from None
        finally:
            timer.cancel()

    async def _connect(self, slot: int, budget_ends: float | None = None) -> _Link:
        task = self.connecting[slot]
        if task is None or task.done():
            task = self.connecting[slot] = asyncio.create_task(self._open(slot), name="store-connect")
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # failures reach the waiters
        if budget_ends is None:
            return await asyncio.shield(task)  # a call that gives up does not cancel the others' connect
        left = budget_ends - asyncio.get_running_loop().time()
        await asyncio.wait((task,), timeout=max(left, 0))
        if not task.done():
            raise TimeoutError("no connection to Redis within the budget")
        return task.result()

    async def _open(self, slot: int) -> _Link:
        old = self.links[slot]
        if old is not None:
            await old.close()
            self.links[slot] = None
        try:
            reader, writer = await self.opener()
        except (OSError, TimeoutError) as e:
            raise StoreConnectionError(f"cannot connect to Redis: {e or type(e).__name__}") from None
        link = _Link(reader, writer, self.encoding)
        if self.setup:
            packed = b"".join(hiredis.pack_command(c) for c in self.setup)
            try:
                async with asyncio.timeout(CONNECT_SECONDS):
                    replies = await link.send(packed, len(self.setup))
            except BaseException:
                await link.close()
                raise
            for r in replies:
                if isinstance(r, ResponseError):
                    await link.close()
                    raise StoreConnectionError(f"Redis refused the connection setup: {r}")
        self.links[slot] = link
        return link

    async def close(self) -> None:
        for t in self.connecting:
            if t is not None and not t.done():
                t.cancel()
        for i, link in enumerate(self.links):
            if link is not None:
                await link.close()
                self.links[i] = None
