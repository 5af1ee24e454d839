"""Which FastAGI connections get a slot: a total cap, a per-address cap, idle ones shed first.

Asterisk sends its whole header block the moment it connects, so a connection that has not
finished its header is either about to (a real call, gone from the idle list within a
millisecond) or is not Asterisk. When the router is full, the oldest such idle connection is
closed to admit the new one; a connection whose header is complete (a call being routed), or
has just arrived unread, is never shed. Idle floods therefore cannot lock calls out; only
calls in progress fill the cap.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol

SHED_SCAN = 32
"""Idle connections looked at, oldest first, for one that is silent; past that the new one is refused."""


class Connection(Protocol):
    def abort(self) -> None:
        """Close at once: shedding ends the connection's session."""


class Slot:
    """One admitted connection."""

    __slots__ = ("conn", "has_input", "host", "released", "shed")

    def __init__(self, conn: Connection, host: str, has_input: Callable[[], bool] | None):
        self.conn = conn
        self.host = host
        self.has_input = has_input
        self.shed = False
        self.released = False


REFUSED_FULL = "connections refused: every slot holds a call in progress"
REFUSED_PEER = "connections refused: the address holds its limit of calls in progress"
SHED = "idle connections closed to admit new ones"


class Admission:
    """Counts open connections overall and per address; the idle ones are kept oldest first."""

    def __init__(self, max_connections: int, max_per_peer: int):
        self.max_connections = max(1, max_connections)
        self.max_per_peer = max(1, min(max_per_peer, self.max_connections))
        self.open = 0
        self.per_peer: dict[str, int] = {}
        self._idle: dict[Slot, None] = {}
        self._idle_by_peer: dict[str, dict[Slot, None]] = {}

    def admit(self, conn: Connection, host: str, has_input: Callable[[], bool] | None = None
              ) -> tuple[Slot | None, str | None, Slot | None]:
        """(slot, None, shed slot or None) when admitted, (None, refusal reason, None) when not.

        `has_input` tells whether a connection has a header waiting to be read: such a one is
        not shed (it is a call whose bytes the event loop has not got to yet).
        """
        victim = None
        if self.per_peer.get(host, 0) >= self.max_per_peer:
            victim = self._oldest(self._idle_by_peer.get(host))
            if victim is None:
                return None, REFUSED_PEER, None
        elif self.open >= self.max_connections:
            victim = self._oldest(self._idle)
            if victim is None:
                return None, REFUSED_FULL, None
        if victim is not None:
            victim.shed = True
            victim.conn.abort()
            self.release(victim)
        slot = Slot(conn, host, has_input)
        self.open += 1
        self.per_peer[host] = self.per_peer.get(host, 0) + 1
        self._idle[slot] = None
        self._idle_by_peer.setdefault(host, {})[slot] = None
        return slot, None, victim

    def started(self, slot: Slot) -> None:
        """The header is complete: a call is being routed, never to be shed."""
        self._forget_idle(slot)

    def release(self, slot: Slot) -> None:
        """The connection is gone (idempotent: a shed slot is released when it is shed)."""
        if slot.released:
            return
        slot.released = True
        self._forget_idle(slot)
        self.open -= 1
        n = self.per_peer[slot.host] - 1
        if n:
            self.per_peer[slot.host] = n
        else:
            del self.per_peer[slot.host]

    @property
    def idle(self) -> int:
        return len(self._idle)

    @staticmethod
    def _oldest(slots: dict[Slot, None] | None) -> Slot | None:
        """The oldest idle connection that has sent nothing waiting to be read."""
        if not slots:
            return None
        for slot in itertools.islice(slots, SHED_SCAN):
            if slot.has_input is None or not slot.has_input():
                return slot
        return None

    def _forget_idle(self, slot: Slot) -> None:
        if self._idle.pop(slot, 0) is None:
            peers = self._idle_by_peer[slot.host]
            del peers[slot]
            if not peers:
                del self._idle_by_peer[slot.host]
