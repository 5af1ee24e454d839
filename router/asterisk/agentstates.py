"""What each queue member is doing, from app_queue's AMI events: one table from event name to handler. Pure.

Facts from app_queue.c (Asterisk 22):
- `QueueMemberAdded` / `QueueMemberRemoved`: a member logs in to / out of one queue (AddQueueMember,
  RemoveQueueMember, a realtime or reload change); each carries the member's `Interface`, `Paused`,
  `PausedReason` and `Wrapuptime` (the member's own; 0: the queue's `wrapuptime` applies).
- `QueueMemberPause`: `Paused: 1|0` with `PausedReason` — PauseQueueMember without a queue pauses the member
  in every queue it is in, one event per queue.
- `QueueMemberStatus` and the `QueueMember` lines of the QueueStatus action (`Location` for the interface):
  the same fields; a member seen there first (a static member of queues.conf) is logged in.
- `AgentRingNoAnswer`: the member rang `RingTime` ms and did not answer.
- `AgentConnect` / `AgentComplete`: the member talks to a caller / the conversation ended (`TalkTime`,
  `Reason` caller|agent|transfer); wrap-up follows for the member's (else the queue's) wrapup time.

A member's state is one of `talk`, `paused` (in every queue it is in, not talking), `wrapup` (after a
call, for its wrap-up time), `available`, `logged_out` — the first that holds, in this order. Each change
closes a `Span` of the previous state; `marks` counts what happened
(pauses started with their reason, ring-no-answers, logins, logouts). Times are the events' own (`at`):
nothing here reads a clock; `open_spans(now)` closes the open states at a time the caller gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

State = Literal["available", "talk", "wrapup", "paused", "logged_out"]
MarkKind = Literal["pause", "ring_no_answer", "login", "logout"]


@dataclass(frozen=True, slots=True)
class Span:
    """A member was in `state` from `start` to `end` (`reason`: the pause's), in `queues`."""

    agent: str
    state: State
    start: float
    end: float
    queues: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Mark:
    """Something that happened to a member once: a pause begun (`reason`), a ring not answered, a login or a
    logout (of `queue`)."""

    agent: str
    kind: MarkKind
    at: float
    queues: tuple[str, ...]
    reason: str = ""


class AgentNow(TypedDict):
    """A member's state as the store keeps it for the page and the wallboard."""

    state: State
    since: float
    queues: list[str]
    reason: str


@dataclass(slots=True)
class _Member:
    queues: dict[str, str | None] = field(default_factory=dict)
    """queue -> None when not paused there, else the pause's reason ("" none given)."""
    talking: int = 0
    wrapup_until: float = 0.0
    wrapup: dict[str, int] = field(default_factory=dict)
    """queue -> the member's own wrapup time there (Wrapuptime; 0: the queue's)."""
    state: State = "logged_out"
    since: float = 0.0
    reason: str = ""


def _state(m: _Member, at: float) -> tuple[State, str]:
    if not m.queues:
        return "logged_out", ""
    if m.talking:
        return "talk", ""
    reasons = list(m.queues.values())
    if all(r is not None for r in reasons):  # a pause is the agent's own word: it wins over wrap-up
        return "paused", next((r for r in reasons if r), "")
    if at < m.wrapup_until:
        return "wrapup", ""
    return "available", ""


Handler = Callable[["AgentStates", dict, float], None]


class AgentStates:
    """Feed AMI events with the time they happened; take the spans and marks that closed."""

    def __init__(self, queue_wrapup: Callable[[str], int] | Mapping[str, int] | None = None):
        self.members: dict[str, _Member] = {}
        found = queue_wrapup or {}
        self.queue_wrapup: Callable[[str], int] = (lambda q: found.get(q, 0)) if isinstance(found, Mapping) else found
        """queue -> its queues.conf `wrapuptime` (AMI does not say it; the rule file's `report.queues`): for
        members who carry none."""
        self.spans: list[Span] = []
        self.marks: list[Mark] = []
        self.changed: set[str] = set()
        """Members whose state changed since `take`."""

    def feed(self, event: dict, at: float) -> None:
        handler = HANDLERS.get(event.get("Event", ""))
        if handler is not None:
            handler(self, event, at)

    def take(self) -> tuple[list[Span], list[Mark], dict[str, AgentNow]]:
        """The spans and marks since the last take, and the members whose state changed (their state now)."""
        if not (self.spans or self.marks or self.changed):
            return [], [], {}
        spans, marks, changed = self.spans, self.marks, self.changed
        self.spans, self.marks, self.changed = [], [], set()
        return spans, marks, {a: self.now_of(a) for a in sorted(changed)}

    def now_of(self, agent: str) -> AgentNow:
        m = self.members[agent]
        return {"state": m.state, "since": m.since, "queues": sorted(m.queues), "reason": m.reason}

    def wrapup_of(self, agent: str, queue: str) -> int:
        """Seconds of wrap-up after a call `agent` took from `queue`: its own Wrapuptime, else the queue's."""
        m = self.members.get(agent)
        own = m.wrapup.get(queue, 0) if m is not None else 0
        return own or self.queue_wrapup(queue)

    # the state machine

    def _member(self, agent: str, at: float) -> _Member:
        m = self.members.get(agent)
        if m is None:
            m = self.members[agent] = _Member(since=at)
        self._catch_up(agent, m, at)
        return m

    def _catch_up(self, agent: str, m: _Member, at: float) -> None:
        """A wrap-up that ran out before `at` ends where it ran out."""
        if m.state == "wrapup" and m.wrapup_until <= at:
            self._settle(agent, m, m.wrapup_until)

    def _settle(self, agent: str, m: _Member, at: float, queues: tuple[str, ...] | None = None) -> None:
        """Close the previous state's span when the state is another now (`queues` those it was in, when they
        changed with it)."""
        state, reason = _state(m, at)
        if (state, reason) == (m.state, m.reason):
            return
        if m.state != "logged_out" and at > m.since:
            self.spans.append(Span(agent, m.state, m.since, at, queues or tuple(sorted(m.queues)), m.reason))
        m.state, m.reason, m.since = state, reason, at
        self.changed.add(agent)

    def open_spans(self, now: float) -> list[Span]:
        """The states open now, as spans ending `now` (a wrap-up that ran out meanwhile, then available)."""
        out = []
        for agent, m in self.members.items():
            start, state = m.since, m.state
            if state == "wrapup" and m.wrapup_until <= now:
                out.append(Span(agent, "wrapup", start, m.wrapup_until, tuple(sorted(m.queues))))
                start, state = m.wrapup_until, _state(m, now)[0]
            if state != "logged_out" and now > start:
                out.append(Span(agent, state, start, now, tuple(sorted(m.queues)), m.reason))
        return out

    # handlers

    def on_member(self, e: dict, at: float) -> None:
        """QueueMemberAdded, QueueMemberStatus, QueueMember (QueueStatus), QueueMemberPause: the member is in
        the queue, paused or not, with this wrapup time."""
        agent, queue = e.get("Interface") or e.get("Location") or "", e.get("Queue", "")
        if not agent or not queue:
            return
        m = self._member(agent, at)
        joined = queue not in m.queues
        was_paused = m.queues.get(queue) if not joined else None
        paused = e.get("Paused") == "1"
        m.queues[queue] = (e.get("PausedReason") or "") if paused else None
        m.wrapup[queue] = int(e.get("Wrapuptime") or 0)
        if joined and e.get("Event") == "QueueMemberAdded":  # else a member the router had not seen yet (a start)
            self.marks.append(Mark(agent, "login", at, (queue,)))
        if paused and was_paused is None and e.get("Event") == "QueueMemberPause":
            self._mark_pause(Mark(agent, "pause", at, (queue,), m.queues[queue] or ""))
        self._settle(agent, m, at)

    def _mark_pause(self, mark: Mark) -> None:
        """One pause of a member in every queue (PauseQueueMember without a queue) is one mark of them all."""
        last = self.marks[-1] if self.marks else None
        if last is not None and (last.agent, last.kind, last.at, last.reason) == (mark.agent, "pause", mark.at,
                                                                                  mark.reason):
            self.marks[-1] = Mark(mark.agent, "pause", mark.at, (*last.queues, *mark.queues), mark.reason)
        else:
            self.marks.append(mark)

    def from_status(self, e: dict, at: float) -> None:
        """A `QueueMember` line of the QueueStatus action's answer (read after each login, not an event)."""
        self.on_member(e, at)

    def on_removed(self, e: dict, at: float) -> None:
        agent, queue = e.get("Interface", ""), e.get("Queue", "")
        m = self.members.get(agent)
        if m is None or queue not in m.queues:
            return
        self._catch_up(agent, m, at)
        before = tuple(sorted(m.queues))
        del m.queues[queue]
        self.marks.append(Mark(agent, "logout", at, (queue,)))
        self._settle(agent, m, at, before)

    def _rung(self, e: dict, at: float) -> tuple[str, _Member] | None:
        """The member a queue rang: in that queue, whether or not the router saw it log in (it started later, or
        QueueStatus was refused)."""
        agent, queue = e.get("Interface", ""), e.get("Queue", "")
        if not agent:
            return None
        m = self._member(agent, at)
        if queue and queue not in m.queues:
            m.queues[queue] = None
            self._settle(agent, m, at)
        return agent, m

    def on_ring_no_answer(self, e: dict, at: float) -> None:
        if (found := self._rung(e, at)) is not None:
            self.marks.append(Mark(found[0], "ring_no_answer", at, (e.get("Queue", ""),)))

    def on_connect(self, e: dict, at: float) -> None:
        if (found := self._rung(e, at)) is not None:
            agent, m = found
            m.talking += 1
            self._settle(agent, m, at)

    def on_complete(self, e: dict, at: float) -> None:
        agent = e.get("Interface", "")
        m = self.members.get(agent)
        if m is None or not m.talking:
            return
        m.talking -= 1
        m.wrapup_until = max(m.wrapup_until, at + self.wrapup_of(agent, e.get("Queue", "")))
        self._settle(agent, m, at)


HANDLERS: dict[str, Handler] = {
    "QueueMemberAdded": AgentStates.on_member,
    "QueueMemberStatus": AgentStates.on_member,
    "QueueMemberPause": AgentStates.on_member,
    "QueueMemberRemoved": AgentStates.on_removed,
    "AgentRingNoAnswer": AgentStates.on_ring_no_answer,
    "AgentConnect": AgentStates.on_connect,
    "AgentComplete": AgentStates.on_complete,
}
EVENTS = frozenset(HANDLERS)
"""The events that change a member's state (the listener hands the others to nobody here)."""
