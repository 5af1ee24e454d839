"""The durable outbox: every message that leaves the router is written to Redis before it is sent.

`post` takes a message at once (it waits in memory while the store is away, and goes to the
spool at shutdown if the store never came back); the writer puts it in Redis; the sender loop
of every router takes due groups, one lease each, and delivers each group's first message:

- sent: the message is removed, the next of its group is due at once;
- the target is away (retry): tried again after 2 s, 4 s, 8 s … 5 min apart, for as long as the
  rule file's `notify.retry_for` (default 24 h), then given up on;
- the target refuses everything (blocked: a wrong key or URL): shown on /healthz with what to do,
  tried again every 5 minutes meanwhile, so that fixing the key lets everything through in order;
- the target refuses this message (rejected): given up on at once.

Each attempt that matters is written on the message's task — the first three, then the 4th,
8th, 16th … (a day of retries is 300 attempts, not 300 comments) — and so is the result.
Given-up messages are kept (newest 1000) for the admin (`Keys.outbox_dead`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from router.core.durations import human_duration as human
from router.outbox.message import Delivery, Message, Sender
from router.state.errors import STORE_ERRORS
from router.state.store import Store

log = logging.getLogger("router.outbox")

FIRST_RETRY = 2.0
MAX_RETRY = 300.0
"""The longest wait between two attempts (and the pace of a blocked channel)."""
LEASE = 60.0
"""Seconds a router holds a group while it sends one message (an HTTP attempt gives up after 10)."""
PARALLEL = 32
"""Groups sent side by side per round: enough for a burst of missed calls, few sockets."""
POLL = 1.0
"""How often a router looks for messages other routers queued (its own wake it at once)."""
STORE_RETRY = 1.0


def retry_delay(attempts: int) -> float:
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)


def worth_a_line(attempts: int) -> bool:
    """The attempts written on the task: 1, 2, 3, then every power of two."""
    return attempts <= 3 or attempts & (attempts - 1) == 0


@dataclass(frozen=True, slots=True)
class Status:
    depth: int
    oldest_age: float | None
    blocked: dict[str, dict]
    given_up: int
    unwritten: int
    """Messages waiting in this router's memory for the store."""


class Outbox:
    def __init__(self, store: Store, senders: dict[str, Sender], clock: Callable[[], float] = time.time,
                 instance: str = ""):
        self.store = store
        self.senders = senders
        self.clock = clock
        self.owner = instance or os.urandom(4).hex()
        self.unwritten: deque[tuple[Message, float]] = deque()
        """Posted, not yet in Redis (the store is away, or the writer has not run yet)."""
        self.counts: Counter[tuple[str, str]] = Counter()
        """(channel, result) -> messages: sent, rejected, given_up, skipped; and attempts that failed."""
        self.after_sent: dict[str, Callable[[Message, Delivery], Awaitable[None]]] = {}
        """Per channel: what to do with a sent message's reply (the CRM's id of what it created)."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sending: set[asyncio.Task] = set()
        self._stopping = False
        self.blocked_here: set[str] = set()
        """Channels this router found blocked (cleared by its next message that goes through)."""

    # taking messages

    def post(self, message: Message, due: float | None = None) -> None:
        """Queue a message; never waits and never fails (the store may be away: it is written later)."""
        self.unwritten.append((message, message.created if due is None else due))
        self._wake.set()

    async def write(self) -> None:
        """Put what was posted into Redis, in order; raises (and keeps the rest) if the store refuses."""
        while self.unwritten:
            message, due = self.unwritten[0]
            queued = await self.store.queue_message(message, due)
            self.unwritten.popleft()
            if not queued:
                self.counts[(message.channel, "skipped")] += 1
                await self._note(message, f"{message.label}: skipped, one was sent (or is waiting to be sent) "
                                          f"less than {human(message.once_for)} ago")

    # sending

    async def deliver_due(self, now: float | None = None) -> int:
        """One round: the first message of every due group this router can lease. How many were tried."""
        now = self.clock() if now is None else now
        groups = await self.store.due_groups(now, PARALLEL)
        leased = [g for g in groups if await self.store.lease_group(g, self.owner, LEASE)]
        if not leased:
            return 0
        sends = [asyncio.ensure_future(self._send_first(g)) for g in leased]
        self._sending.update(sends)
        try:
            done = await asyncio.gather(*sends)
        finally:
            self._sending.difference_update(sends)
        return sum(done)

    async def _send_first(self, group: str) -> int:
        try:
            message = await self.store.first_message(group)
            if message is None:
                return 0
            await self._attempt(message)
            return 1
        finally:
            with contextlib.suppress(*STORE_ERRORS):
                await self.store.release_group(group)

    async def _attempt(self, m: Message) -> None:
        sender = self.senders.get(m.channel)
        m.attempts += 1
        if sender is None:
            result = Delivery("blocked", f"no sender for channel {m.channel!r}",
                              "this router has no such channel configured; check notify: in the rule file")
        else:
            result = await sender.deliver(m)
        now = self.clock()
        if result.verdict == "sent":
            await self.store.message_done(m, now, once_for=m.once_for)
            self.counts[(m.channel, "sent")] += 1
            if m.attempts > 1 or m.channel in self.blocked_here:
                await self.store.set_blocked(m.channel, None)
                self.blocked_here.discard(m.channel)
            await self._note(m, f"{m.label}: sent ({result.detail}, attempt {m.attempts})")
            hook = self.after_sent.get(m.channel)
            if hook is not None:
                await hook(m, result)
            return
        if result.verdict == "rejected" or now >= m.expires:
            why = ("refused" if result.verdict == "rejected" else
                   f"given up after {m.attempts} attempts over {human(now - m.created)}")
            await self.store.message_done(m, now, dead={**m.record(), "given_up_at": now, "why": result.detail,
                                                        "advice": result.advice})
            self.counts[(m.channel, "rejected" if result.verdict == "rejected" else "given_up")] += 1
            log.error("%s (task %s): %s: %s %s", m.label, m.task or "-", why, result.detail, result.advice)
            await self._note(m, f"{m.label}: {why}: {result.detail}" + (f"; {result.advice}" if result.advice else ""))
            return
        delay = MAX_RETRY if result.verdict == "blocked" else retry_delay(m.attempts)
        if result.verdict == "blocked" and m.channel not in self.blocked_here:
            self.blocked_here.add(m.channel)
            await self.store.set_blocked(m.channel, {"since": now, "error": result.detail, "advice": result.advice})
            log.error("%s: every message waits: %s; %s", m.channel, result.detail, result.advice)
        await self.store.message_retry(m, now + delay, result.detail)
        if worth_a_line(m.attempts):
            await self._note(m, f"{m.label}: attempt {m.attempts} failed ({result.detail}); next try in "
                                f"{human(delay)}")
        self.counts[(m.channel, "failed_attempts")] += 1  # once the attempt is on the task, for who reads both

    async def _note(self, m: Message, text: str) -> None:
        if m.task:
            await self.store.comment(m.task, self.clock(), text)

    # running

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.write()
                tried = await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except STORE_ERRORS as e:
                log.warning("outbox: store unreachable (%s); %d messages wait in memory, retrying in %.0f s",
                            e, len(self.unwritten), STORE_RETRY)
                await asyncio.sleep(STORE_RETRY)
                continue
            if tried:
                continue  # the groups' next messages are due now
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL):
                    await self._wake.wait()

    async def stop(self, seconds: float) -> list[Message]:
        """Stop sending; let sends under way finish within `seconds` (a message cut short stays queued and
        is tried again); write what was posted if the store takes it. Returns what is left for the spool."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(seconds):
                    await self._task
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, *STORE_ERRORS):
                await self._task
        with contextlib.suppress(*STORE_ERRORS):
            async with asyncio.timeout(seconds):
                await self.write()
        await self.close()
        return [m for m, _ in self.unwritten]

    async def close(self) -> None:
        """Close the senders' connections (what is queued stays queued in Redis)."""
        for sender in set(self.senders.values()):
            await sender.close()

    async def status(self) -> Status:
        depth, oldest, blocked, dead = await self.store.outbox_state()
        now = self.clock()
        return Status(depth + len(self.unwritten), None if oldest is None else max(0.0, now - oldest), blocked,
                      dead, len(self.unwritten))
