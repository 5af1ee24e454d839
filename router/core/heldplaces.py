"""A caller who pressed 1 in a queue keeps his place and is called back in his turn. Pure.

Offer (`hold_decision`): the queue's `callbacks.hold` entry says after how long a caller may leave his place
(`after`), or from what estimated wait (`estimated_over`: app_queue's own average hold time of the queue's recent
answered calls, QUEUEHOLDTIME, which it updates on every answered call as 3/4 of the old value and 1/4 of the new).
A caller who pressed 1 earlier than both is put back in the queue at the position he left (Queue()'s `position`
argument), so pressing too soon costs nothing.

Turn (`held_turn`), the ordering between live callers and held places: every caller, live or held, is ranked by
when he began waiting. app_queue serves the live callers in its own order. A held place is called back when a
member of the queue is free (NOT_INUSE, not paused) and no live caller still in the queue began waiting before it:
the oldest held place goes first. So a live caller is never overtaken by a held place that began waiting after
him, and a held place is never overtaken by a live caller who began after it — as long as free members are found
by the router before app_queue rings them; neither starves, because each waits only for those ahead of it in one
order by time, and that list only shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from router.core.durations import Duration


class HoldQueue(BaseModel):
    """`callbacks.hold.QUEUE`: when a caller in this queue may press 1 and keep his place."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Duration = 120
    """Seconds waited after which pressing 1 keeps the place."""
    estimated_over: Duration | None = None
    """Or: an estimated wait (the queue's average hold time) above this keeps it at once."""
    keep: Duration = Field(4 * 3600)
    """How long a held place waits for its turn; after that it is an ordinary follow-up for a person."""


@dataclass(frozen=True, slots=True)
class HoldDecision:
    kept: bool
    why: str


def hold_decision(queue: str, waited: float, estimated: float | None, settings: HoldQueue | None) -> HoldDecision:
    if settings is None:
        return HoldDecision(False, f"queue {queue!r} offers no callback (no callbacks.hold entry)")
    if waited >= settings.after:
        return HoldDecision(True, f"waited {int(waited)} s in {queue}, callbacks.hold.{queue}.after is "
                                  f"{settings.after} s")
    if settings.estimated_over is not None and estimated is not None and estimated >= settings.estimated_over:
        return HoldDecision(True, f"estimated wait {int(estimated)} s in {queue} (its recent answered calls), over "
                                  f"{settings.estimated_over} s")
    return HoldDecision(False, f"waited {int(waited)} s of {settings.after} s and the estimated wait is short: "
                               "back in line at the same place")


SAME_TIME = 2.0
"""Seconds within which a live caller counts as having begun before a held place: QueueStatus gives his wait in
whole seconds and a channel's Uniqueid its start in whole seconds, so a second of each may be lost; in a near
tie the live caller goes first (a held place never overtakes one who may have been earlier)."""


@dataclass(frozen=True, slots=True)
class Member:
    interface: str
    """The device a callback rings (the member's state interface)."""
    free: bool


def held_turn(held_since: float, live_since: list[float], members: list[Member]) -> str:
    """The member to ring for the oldest held place, "" while its turn has not come (see the module docstring)."""
    if any(t < held_since + SAME_TIME for t in live_since):
        return ""
    return next((m.interface for m in members if m.free), "")
