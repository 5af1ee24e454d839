"""Each queue as it is now, from AMI events: who waits and since when, what each member is doing, and the
day's answered and abandoned callers so far. One table from event name to handler. Pure: the time of
each event is passed in, and how long the first caller has waited is worked out from join times at
the moment a snapshot is taken (`snapshot(now)`), never kept ticking.

Facts from app_queue.c (Asterisk 22) that this fold relies on:
- `QueueCallerJoin` / `QueueCallerLeave` bracket a caller's wait; `AgentConnect` (after the Leave)
  says a member answered, its `HoldTime` is the wait in whole seconds.
- `QueueCallerAbandon` is raised for every caller who leaves unanswered (`record_abandoned`): one
  who hung up, but also the queue's timeout, `leavewhenempty` and a withdraw. Only what follows
  tells them apart: `QUEUESTATUS` is set (VarSet, after the Leave) for a timeout and never for a
  hang-up; a caller who timed out goes on in the dialplan (joins the next queue, dials the next
  step, or the walk's `UserEvent callrouter` says every step failed) while one who gave up hangs
  up. So an unanswered caller counts as abandoned at their `Hangup`, and as timed out at the
  first sign that their channel went on.
- `QueueMemberStatus`, `…Added`, `…Pause`, `…Penalty`, `…Ringinuse` all carry the whole member:
  `Status` (the device state, 0-8), `Paused` and `PausedReason`, `InCall`, `LoginTime`,
  `LastCall` and `Wrapuptime` (0: the queue's). `QueueMemberRemoved` is a logout (or a reload
  that dropped a static member). A member is in wrap-up for its wrap-up time after a call ends
  (`AgentComplete`, or `LastCall` when read afresh), as app_queue does before ringing it again.
- `AgentRingNoAnswer` (`RingTime` in ms) is a member who let a queue call ring out.
- The `QueueStatus` action answers with `QueueParams` (one per queue), `QueueMember` (`Name`,
  `Location` where the events say `MemberName`, `Interface`) and `QueueEntry` (`Wait`: seconds
  the caller has waited): `seed` takes them after every (re)connect, replacing what was known of
  the queues it names. The day's counts are kept: what happened while the connection was down is
  lost to them (the report, counted from each call's outcome, does not lose it).

Every router listens to AMI itself, so each holds its own copy of this state, and its wallboard
shows what its own Asterisk connection told it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from router.asterisk import variables as V

MemberState = Literal["available", "ringing", "on_call", "wrapup", "paused", "offline"]
MEMBER_STATES: tuple[MemberState, ...] = ("available", "ringing", "on_call", "wrapup", "paused", "offline")
DEVICE_ON_CALL = frozenset({"2", "3", "7", "8"})
"""INUSE, BUSY, RINGINUSE, ONHOLD (the numbers of `Status`)."""
DEVICE_RINGING = "6"
DEVICE_OFFLINE = frozenset({"4", "5"})
"""INVALID, UNAVAILABLE: a phone that is not registered. UNKNOWN (0) app_queue rings: available."""
TIMEOUT_STATUSES = frozenset({"TIMEOUT", "LEAVEEMPTY", "LEAVEUNAVAIL", "WITHDRAW", "CONTINUE"})
MAX_UNRESOLVED = 10_000
"""Unanswered callers waiting for their channel to hang up or go on: a Hangup that never comes (events
filtered away) must not grow this for ever; past it, the oldest is counted as timed out."""


@dataclass(slots=True)
class Member:
    interface: str
    name: str = ""
    state_interface: str = ""
    status: str = "0"
    paused: bool = False
    reason: str = ""
    paused_at: float | None = None
    in_call: bool = False
    last_call: float = 0.0
    wrapup: int = 0
    """Its own wrap-up seconds; 0: the queue's."""
    ring_no_answer: int = 0
    """Queue calls it let ring out today."""
    ring_no_answer_day: str = ""


@dataclass(slots=True)
class Caller:
    uniqueid: str
    joined: float
    number: str = ""


@dataclass(slots=True)
class DayCounts:
    """One queue's callers of one company day, by how their wait ended; waits in whole seconds."""

    day: str = ""
    answered: Counter[int] = field(default_factory=Counter)
    abandoned: Counter[int] = field(default_factory=Counter)
    timed_out: int = 0
    kept: int = 0
    """Callers who pressed 1 and left keeping their place for a callback (dialplans/callrouter-hold.conf): offered,
    not answered, not abandoned — as the report counts them."""


@dataclass(slots=True)
class Queue:
    name: str
    waiting: dict[str, Caller] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    today: DayCounts = field(default_factory=DayCounts)


class MemberView(TypedDict):
    interface: str
    name: str
    state: MemberState
    reason: str
    """Why it is paused (`PausedReason`), "" when it gave none or is not paused."""
    since: float | None
    """When the pause began, when known."""
    ring_no_answer: int


class QueueView(TypedDict):
    queue: str
    waiting: int
    longest_wait: int
    """Seconds the first caller still waiting has waited, 0 with nobody waiting."""
    agents: dict[MemberState, int]
    members: list[MemberView]


Handler = Callable[["QueueLive", dict, float], None]


class QueueLive:
    """Feed AMI events with the time they happened; `snapshot(now)` is every queue as it is.

    `day_of(t)` names the company day of a time (the day's counts start afresh with a new one);
    `wrapup_of(queue)` is a queue's wrap-up seconds for members that have none of their own;
    `changed` is set by every event that altered what a snapshot shows."""

    def __init__(self, day_of: Callable[[float], str], wrapup_of: Callable[[str], int] = lambda queue: 0):
        self.day_of = day_of
        self.wrapup_of = wrapup_of
        self.queues: dict[str, Queue] = {}
        self.unresolved: dict[str, tuple[str, int, float]] = {}
        """Uniqueid -> (queue, seconds waited, when it left) of callers who left a queue unanswered."""
        self.changed = False

    def feed(self, event: dict, at: float) -> None:
        handler = HANDLERS.get(event.get("Event", ""))
        if handler is not None:
            handler(self, event, at)

    def take_changed(self) -> bool:
        changed, self.changed = self.changed, False
        return changed

    # helpers

    def _queue(self, name: str) -> Queue:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = Queue(name)
        return q

    def _today(self, q: Queue, at: float) -> DayCounts:
        day = self.day_of(at)
        if q.today.day != day:
            q.today = DayCounts(day)
        return q.today

    def _went_on(self, uid: str) -> None:
        """The caller's channel did something else after leaving a queue unanswered: that was a timeout."""
        found = self.unresolved.pop(uid, None)
        if found is not None and found[0] in self.queues:
            q = self.queues[found[0]]
            self._today(q, found[2]).timed_out += 1
            self.changed = True

    # handlers: callers

    def on_join(self, e: dict, at: float) -> None:
        uid, name = e.get("Uniqueid", ""), e.get("Queue", "")
        if not uid or not name:
            return
        self._went_on(uid)
        self._queue(name).waiting[uid] = Caller(uid, at, e.get("CallerIDNum", ""))
        self.changed = True

    def on_leave(self, e: dict, at: float) -> None:
        q = self.queues.get(e.get("Queue", ""))
        if q is not None and q.waiting.pop(e.get("Uniqueid", ""), None) is not None:
            self.changed = True

    def on_abandon(self, e: dict, at: float) -> None:
        uid, name = e.get("Uniqueid", ""), e.get("Queue", "")
        if not uid or not name:
            return
        q = self._queue(name)
        caller = q.waiting.pop(uid, None)
        held = _int(e.get("HoldTime"), int(at - caller.joined) if caller is not None else 0)
        if len(self.unresolved) >= MAX_UNRESOLVED:
            self._went_on(next(iter(self.unresolved)))
        self.unresolved[uid] = (name, held, at)
        self.changed = True

    def on_hangup(self, e: dict, at: float) -> None:
        uid = e.get("Uniqueid", "")
        found = self.unresolved.pop(uid, None)
        if found is not None:
            name, held, left = found
            self._today(self._queue(name), left).abandoned[held] += 1
            self.changed = True
        for q in self.queues.values():  # a caller whose Leave never came (a crash): gone with the channel
            if q.waiting.pop(uid, None) is not None:
                self.changed = True

    def on_went_on(self, e: dict, at: float) -> None:
        self._went_on(e.get("Uniqueid", ""))

    def on_userevent(self, e: dict, at: float) -> None:
        """The walk's or the hold dialplan's `UserEvent callrouter`: the caller went on; `Result: kept` says he
        left the queue keeping his place for a callback."""
        self._went_on(e.get("Uniqueid", ""))
        queue = e.get("Queue", "")
        if e.get("UserEvent") == V.USER_EVENT and e.get("Result") == V.HOLD_KEPT and queue:
            self._today(self._queue(queue), at).kept += 1
            self.changed = True

    def on_varset(self, e: dict, at: float) -> None:
        if e.get("Variable") == "QUEUESTATUS" and e.get("Value") in TIMEOUT_STATUSES:
            self._went_on(e.get("Uniqueid", ""))

    def on_connect(self, e: dict, at: float) -> None:
        name = e.get("Queue", "")
        if not name:
            return
        q = self._queue(name)
        caller = q.waiting.pop(e.get("Uniqueid", ""), None)
        held = _int(e.get("HoldTime"), int(at - caller.joined) if caller is not None else 0)
        self._today(q, at).answered[held] += 1
        member = q.members.get(e.get("Interface", ""))
        if member is not None:
            member.in_call = True
        self.changed = True

    # handlers: members

    def on_member(self, e: dict, at: float) -> None:
        """Any event that carries the whole member (the events' names, or QueueStatus' `Name`/`Location`)."""
        name = e.get("Queue", "")
        interface = e.get("Interface") or e.get("Location") or ""
        if not name or not interface:
            return
        q = self._queue(name)
        m = q.members.get(interface)
        if m is None:
            m = q.members[interface] = Member(interface)
        paused = e.get("Paused") == "1"
        if paused and (not m.paused or m.paused_at is None):
            last_pause = _float(e.get("LastPause"))
            m.paused_at = last_pause or at
        elif not paused:
            m.paused_at = None
        m.paused = paused
        m.reason = e.get("PausedReason", "") if paused else ""
        m.name = e.get("MemberName") or e.get("Name") or m.name or interface
        m.state_interface = e.get("StateInterface", m.state_interface)
        m.status = e.get("Status", m.status)
        m.in_call = e.get("InCall", "1" if m.in_call else "0") == "1"
        m.last_call = max(m.last_call, _float(e.get("LastCall")))
        m.wrapup = _int(e.get("Wrapuptime"), m.wrapup)
        self.changed = True

    def on_removed(self, e: dict, at: float) -> None:
        q = self.queues.get(e.get("Queue", ""))
        if q is not None and q.members.pop(e.get("Interface", ""), None) is not None:
            self.changed = True

    def on_complete(self, e: dict, at: float) -> None:
        q = self.queues.get(e.get("Queue", ""))
        m = q.members.get(e.get("Interface", "")) if q is not None else None
        if m is not None:
            m.in_call = False
            m.last_call = at
            self.changed = True

    def on_ring_no_answer(self, e: dict, at: float) -> None:
        q = self.queues.get(e.get("Queue", ""))
        m = q.members.get(e.get("Interface", "")) if q is not None else None
        if m is not None:
            day = self.day_of(at)
            if m.ring_no_answer_day != day:
                m.ring_no_answer, m.ring_no_answer_day = 0, day
            m.ring_no_answer += 1
            self.changed = True

    # reading afresh

    def seed(self, items: list[dict], now: float) -> None:
        """The QueueStatus answer (QueueParams, QueueMember, QueueEntry events) read after a (re)connect: each
        queue it names is now exactly what it says; the day's counts stay."""
        named = {e.get("Queue", "") for e in items if e.get("Event") in ("QueueParams", "QueueMember", "QueueEntry")}
        for name in named - {""}:
            q = self._queue(name)
            q.waiting.clear()
            q.members.clear()
        for e in items:
            if e.get("Event") == "QueueMember":
                self.on_member(e, now)
            elif e.get("Event") == "QueueEntry" and e.get("Queue") and e.get("Uniqueid"):
                self._queue(e["Queue"]).waiting[e["Uniqueid"]] = Caller(e["Uniqueid"], now - _int(e.get("Wait"), 0),
                                                                        e.get("CallerIDNum", ""))
        self.changed = True

    # reading

    def member_state(self, m: Member, queue: str, now: float) -> MemberState:
        if m.status in DEVICE_OFFLINE:
            return "offline"
        if m.paused:
            return "paused"
        if m.in_call or m.status in DEVICE_ON_CALL:
            return "on_call"
        if m.status == DEVICE_RINGING:
            return "ringing"
        wrapup = m.wrapup or self.wrapup_of(queue)
        if wrapup and m.last_call and now < m.last_call + wrapup:
            return "wrapup"
        return "available"

    def snapshot(self, now: float) -> list[QueueView]:
        """Every queue known, by name: its waiting callers, its members and how many are in each state."""
        out: list[QueueView] = []
        for name in sorted(self.queues):
            q = self.queues[name]
            members: list[MemberView] = []
            agents: dict[MemberState, int] = dict.fromkeys(MEMBER_STATES, 0)
            for m in sorted(q.members.values(), key=lambda m: (m.name.lower(), m.interface)):
                state = self.member_state(m, name, now)
                agents[state] += 1
                today = m.ring_no_answer_day == self.day_of(now)
                members.append({"interface": m.interface, "name": m.name, "state": state, "reason": m.reason,
                                "since": m.paused_at if m.paused else None,
                                "ring_no_answer": m.ring_no_answer if today else 0})
            first = min((c.joined for c in q.waiting.values()), default=None)
            out.append({"queue": name, "waiting": len(q.waiting),
                        "longest_wait": max(0, int(now - first)) if first is not None else 0,
                        "agents": agents, "members": members})
        return out

    def day_counts(self, now: float) -> dict[str, DayCounts]:
        """Each queue's counts of the day `now` is in (empty for a queue with none yet today)."""
        day = self.day_of(now)
        return {name: q.today if q.today.day == day else DayCounts(day) for name, q in self.queues.items()}


def _int(value: str | None, default: int) -> int:
    try:
        return int(float(value)) if value not in (None, "") else default
    except ValueError:
        return default


def _float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


HANDLERS: dict[str, Handler] = {
    "QueueCallerJoin": QueueLive.on_join,
    "QueueCallerLeave": QueueLive.on_leave,
    "QueueCallerAbandon": QueueLive.on_abandon,
    "AgentConnect": QueueLive.on_connect,
    "AgentComplete": QueueLive.on_complete,
    "AgentRingNoAnswer": QueueLive.on_ring_no_answer,
    "QueueMemberStatus": QueueLive.on_member,
    "QueueMemberAdded": QueueLive.on_member,
    "QueueMemberPause": QueueLive.on_member,
    "QueueMemberPenalty": QueueLive.on_member,
    "QueueMemberRinginuse": QueueLive.on_member,
    "QueueMemberRemoved": QueueLive.on_removed,
    "Hangup": QueueLive.on_hangup,
    "VarSet": QueueLive.on_varset,
    "DialBegin": QueueLive.on_went_on,
    "UserEvent": QueueLive.on_userevent,
}
EVENTS = frozenset(HANDLERS)
"""The events the live queues follow."""
