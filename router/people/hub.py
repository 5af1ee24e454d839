"""The people side of a running router, in one place: who is on staff, each one's stream, the card on the
ringing phone's page, the notices that reach them. Made with the HTTP application (router/web/app.py)
and started and stopped with it; it listens to the router's rings and follow-up changes, and adds
nothing to a call's path.
"""

from __future__ import annotations

import asyncio

from router.people.desk import Desk
from router.people.notices import Notices
from router.people.staff import Staff
from router.people.streams import Streams
from router.service import Router

STOP_SECONDS = 2.0


class People:
    def __init__(self, router: Router):
        self.router = router
        self.staff = Staff(router.store, lambda: router.rules)
        self.streams = Streams()
        self.desk = Desk(router, self.staff, self.streams)
        self.notices = Notices(router, self.staff)
        self._tasks: set[asyncio.Task] = set()
        router.ring_listeners.append(self.desk.on_ring)
        router.followup_listeners.append(self.on_followup)

    def on_followup(self, event: dict) -> None:
        """A follow-up changed on this router: nudge its owner's pages, and tell the people it concerns."""
        task = event.get("task") or {}
        view = self.staff.last  # maybe seconds old: a nudge to a page is cheap to miss (the page polls too)
        for owner in {task.get("owner", ""), task.get("previous_owner", "")} - {""}:
            for name in view.owners(owner):
                self.streams.publish(name, {"type": "work", "event": event.get("event", ""), "task": task.get("id")})
        job = asyncio.ensure_future(self.notices.on_followup(event))
        self._tasks.add(job)
        job.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        self.notices.start()

    async def stop(self) -> None:
        self.streams.close()
        await self.desk.stop()
        await self.notices.stop()
        if self._tasks:  # notices being queued: let them reach the store (or the outbox's memory)
            await asyncio.wait(list(self._tasks), timeout=STOP_SECONDS)
        if self.on_followup in self.router.followup_listeners:
            self.router.followup_listeners.remove(self.on_followup)
        if self.desk.on_ring in self.router.ring_listeners:
            self.router.ring_listeners.remove(self.desk.on_ring)
