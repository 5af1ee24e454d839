"""At most one push per interval, and never later than one interval after the change that asked for it.

A busy queue sends AMI events in bursts (a caller joining rings every member: one AgentCalled,
DialBegin and QueueMemberStatus each); the wall needs the state after the burst, not every step.
The first change after a quiet spell goes out at once; changes within `every` of the last push
wait for the next one, which carries them all. The clock and the scheduler are passed in, so
tests move time by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CallLater = Callable[[float, Callable[[], None]], Any]


class Coalescer:
    def __init__(self, every: float, clock: Callable[[], float], call_later: CallLater, send: Callable[[], None]):
        self.every = every
        self.clock = clock
        self.call_later = call_later
        self.send = send
        self.last = float("-inf")
        self.scheduled = False
        self.sent = 0

    def poke(self) -> None:
        """Something changed: push now, or at the end of the current interval if one went out within it."""
        if self.scheduled:
            return
        wait = self.last + self.every - self.clock()
        if wait <= 0:
            self._push()
        else:
            self.scheduled = True
            self.call_later(wait, self._due)

    def _due(self) -> None:
        self.scheduled = False
        self._push()

    def _push(self) -> None:
        self.last = self.clock()
        self.sent += 1
        self.send()
