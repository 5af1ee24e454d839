"""Each signed-in person's own live stream: the caller's card when their phone rings, and a nudge when their
work changes. Built on the live page's bounded fan-out (router/web/broadcast.py): a frame is made once
per event, a page that stops reading is dropped, never waited for. An event goes only to the pages of
the person it is for: one person's card never reaches another's page.
"""

from __future__ import annotations

from collections.abc import Callable

from router.web.broadcast import Broadcast, Subscriber

PAGES_PER_PERSON = 5
MAX_PAGES = 200
BACKLOG = 100


class Streams:
    def __init__(self, per_person: int = PAGES_PER_PERSON, max_pages: int = MAX_PAGES):
        self.per_person = per_person
        self.max_pages = max_pages
        self.people: dict[str, Broadcast] = {}

    def watching(self, name: str) -> bool:
        b = self.people.get(name)
        return b is not None and bool(b.subscribers)

    def subscribe(self, name: str, on_drop: Callable[[], None] | None = None) -> Subscriber | None:
        """A page of `name`'s; None past their or the router's limit."""
        if sum(len(b.subscribers) for b in self.people.values()) >= self.max_pages:
            return None
        b = self.people.setdefault(name, Broadcast(self.per_person, BACKLOG))
        return b.subscribe(on_drop)

    def unsubscribe(self, name: str, s: Subscriber) -> None:
        b = self.people.get(name)
        if b is not None:
            b.unsubscribe(s)
            if not b.subscribers:
                del self.people[name]

    def publish(self, name: str, event: dict) -> None:
        b = self.people.get(name)
        if b is not None:
            b.publish(event)

    def close(self) -> None:
        for b in self.people.values():
            b.close()
