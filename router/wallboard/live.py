"""One router's wallboard at run time: the AMI listener hands it every event (`feed`) and the queue status
read after each (re)connect (`seed`); what changed goes to the screens' streams at most every PUSH_EVERY
and never later than that after the event (router/wallboard/coalesce.py).

Also pushed, while at least one screen watches: the board every TICK seconds (the longest wait
grows and wrap-ups end with no event), and the follow-up counts per owner, read afresh every
OWNERS_EVERY seconds (they change at the pace of people, and reading them costs a round trip per
1,000 open tasks). Folding an event costs a few dictionary operations on the loop that answers
calls; a board is built once per push, and its frame is shared by every screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from router.asterisk.queuelive import EVENTS as QUEUE_EVENTS
from router.asterisk.queuelive import QueueLive
from router.floodlog import FloodLog
from router.periodic import Periodic
from router.service import Router
from router.state.errors import STORE_ERRORS
from router.wallboard.board import Board, board, today_figures
from router.wallboard.coalesce import CallLater, Coalescer
from router.web.broadcast import Broadcast
from router.web.worklist import OwnerCounts, owner_counts

log = logging.getLogger("router.wallboard")

PUSH_EVERY = 0.2
"""Seconds between two pushes at most: the wall is this much behind AMI at worst."""
TICK = 1.0
OWNERS_EVERY = 5.0
LOG_EVERY = 300.0
"""A store away for an hour logs 12 lines about the wall, not 720."""
MAX_SCREENS = 20
BACKLOG = 20
"""Boards a screen may be behind before it is dropped (its page reconnects and starts from the latest)."""


class Wallboard:
    def __init__(self, router: Router, call_later: CallLater | None = None, every: float = PUSH_EVERY):
        self.router = router
        self.live = QueueLive(self.day_of, lambda queue: self.router.rules.rs.report.wrapup_of(queue))
        self.screens = Broadcast(MAX_SCREENS, BACKLOG)
        self.owners: dict[str, OwnerCounts] = {}
        self.owners_at = float("-inf")
        self.coalescer = Coalescer(every, router.clock, call_later or self._call_later, self.push)
        self.ticker = Periodic("wallboard", TICK, self.tick, (), lambda error: None)
        self.flood = FloodLog(log, "wallboard", interval=LOG_EVERY)
        self._reading = asyncio.Lock()
        """Screens connecting at once (a router restarted under 20 TVs) wait for one read of the counts."""

    def day_of(self, t: float) -> str:
        return datetime.fromtimestamp(t, self.router.rules.company_zone).date().isoformat()

    @staticmethod
    def _call_later(delay: float, callback) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)

    # from the AMI listener

    events = QUEUE_EVENTS
    """The events the listener hands on (router/asterisk/ami.py's Watcher)."""

    def feed(self, event: dict, at: float) -> None:
        self.live.feed(event, at)
        if self.live.take_changed():
            self.coalescer.poke()

    def seed(self, items: list[dict], now: float) -> None:
        self.live.seed(items, now)
        self.live.take_changed()
        self.coalescer.poke()

    # to the screens

    def board(self) -> Board:
        now = self.router.clock()
        rs = self.router.rules.rs
        return board(self.live.snapshot(now), today_figures(self.live.day_counts(now), rs.report), self.owners,
                     rs.wallboard, now)

    def push(self) -> None:
        if self.screens.subscribers:
            self.screens.publish({"type": "board", "board": self.board()})

    async def read_owners(self, older_than: float = 0.0) -> None:
        """The follow-up counts per owner, read afresh unless they are younger than `older_than` seconds."""
        async with self._reading:
            if self.router.clock() - self.owners_at >= older_than:
                self.owners = await owner_counts(self.router)
                self.owners_at = self.router.clock()

    async def current(self) -> Board:
        """The board now, for a screen that connects or asks once: follow-up counts read first when they are
        older than OWNERS_EVERY (when the store is away, the last ones, and the ticker logs it)."""
        with contextlib.suppress(*STORE_ERRORS):
            await self.read_owners(OWNERS_EVERY)
        return self.board()

    # the ticker

    def start(self) -> None:
        self.ticker.start()

    async def stop(self) -> None:
        self.screens.close()
        self.flood.flush()
        await self.ticker.stop()

    async def tick(self) -> None:
        """While screens watch: the follow-up counts read when older than OWNERS_EVERY, and the board pushed."""
        if not self.screens.subscribers:
            return
        if self.router.clock() - self.owners_at >= OWNERS_EVERY:
            try:
                await self.read_owners()
            except STORE_ERRORS as e:
                self.owners_at = self.router.clock()  # try again at the next round, not every second
                self.flood.note("reads of the follow-up counts failed (the wall shows the last ones)", str(e))
        self.coalescer.poke()
