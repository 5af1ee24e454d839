"""The caller's card on the page of the person whose phone rings, and only theirs.

`Desk.on_ring` is one of `Router.ring_listeners`: it is called on the AMI listener's path and
returns at once; the card is read and sent in a task of its own. A ring that ends before its card
is ready sends nothing. What each page gets on its own stream (router/people/streams.py):

- `{"type": "card", "state": "ringing", "card": {…}}` when a phone of theirs starts ringing;
- `{"type": "card", "state": "answered", "linkedid": …}` when they answered it;
- `{"type": "card", "state": "ended", "linkedid": …}` when it stopped ringing unanswered on their phone
  (someone else answered, the caller hung up, the queue moved on).

`built_ms` keeps how long the last cards took from the ring to the page's stream (the issue's bound
is 300 ms); a card is built only for people with a page open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from router.core.ring import Ring
from router.people.card import build_card
from router.people.staff import Staff
from router.people.streams import Streams
from router.service import Router
from router.state.errors import STORE_ERRORS

log = logging.getLogger("router.people")


class Desk:
    def __init__(self, router: Router, staff: Staff, streams: Streams):
        self.router = router
        self.staff = staff
        self.streams = streams
        self.shown: dict[tuple[str, str], set[str]] = {}
        """(linkedid, device) -> the people shown its card."""
        self.pending: set[tuple[str, str]] = set()
        """Rings whose card is being put together."""
        self.over: set[tuple[str, str]] = set()
        """Rings that ended while their card was being put together: it is not sent."""
        self.built_ms: deque[float] = deque(maxlen=1000)
        self._tasks: set[asyncio.Task] = set()

    def on_ring(self, ring: Ring) -> None:
        key = (ring.linkedid, ring.device)
        if ring.state == "ringing":
            self.pending.add(key)
            task = asyncio.ensure_future(self._show(ring, time.perf_counter()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        names = self.shown.pop(key, None)
        if names is None:
            if key in self.pending:
                self.over.add(key)
            return
        for name in names:
            self.streams.publish(name, {"type": "card", "state": ring.state, "linkedid": ring.linkedid,
                                        "device": ring.device})

    async def _show(self, ring: Ring, started: float) -> None:
        key = (ring.linkedid, ring.device)
        try:
            view = await self.staff.view()
            names = {n for n in view.ringing(ring.devices) if self.streams.watching(n)}
            if not names:
                return
            card = await build_card(self.router.store, self.router.log, self.router.rules, ring, self.router.clock())
        except STORE_ERRORS as e:
            log.warning("call %s: the caller's card for %s not shown (store: %s)", ring.linkedid, ring.device, e)
            return
        finally:
            self.pending.discard(key)
        if key in self.over:
            self.over.discard(key)
            return
        self.shown[key] = names
        for name in names:
            self.streams.publish(name, {"type": "card", "state": "ringing", "card": card})
        self.built_ms.append((time.perf_counter() - started) * 1000)

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
