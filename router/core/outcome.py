"""How a call ended, seen from the customer's side: what the AMI listener finds, and what follow-ups,
risk and the report read. Pure data.

An outcome is made once (router/asterisk/calltracker.py), written once across routers
(`Store.record_outcomes`, which fills in `type` and `open_task`), then acted on. Its JSON shape
(`record()`) is what the outcome stream, the live page, the API and the spool carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict, cast

Direction = Literal["inbound", "outbound"]
Result = Literal["answered", "missed"]

CALLER_HUNG_UP = "caller hung up before anyone answered"
"""The reason of a missed call the caller gave up on: an abandon, in the report's standard figures (a queue's
timeout or a step that failed is missed, not abandoned)."""

CALLBACK_REQUESTED = "callback requested"
"""How the reason of a call begins whose caller pressed 1 in a queue and hung up keeping his place: not a missed
call in the report, though nobody answered it."""


class OutcomeRecord(TypedDict):
    """An outcome as JSON."""

    linkedid: str
    direction: Direction
    number: str
    result: Result
    by: str
    queue: str
    decision: str
    ring_seconds: float
    talk_seconds: float
    ended_at: float
    reason: str
    ivr: NotRequired[str]
    by_state: NotRequired[str]
    menus: NotRequired[list[list[str]]]
    menu_left: NotRequired[str]
    type: NotRequired[str]
    open_task: NotRequired[str]
    hold_seconds: NotRequired[float]
    wrapup_seconds: NotRequired[float]
    agent_talk_seconds: NotRequired[float]


@dataclass(slots=True)
class Outcome:
    linkedid: str
    direction: Direction
    number: str
    """The customer's number: E.164 when it could be read, else the caller ID as it came."""
    result: Result
    by: str = ""
    """The device or queue member that answered (`ivr:CONTEXT` for a self-service IVR)."""
    queue: str = ""
    decision: str = ""
    """The decision that routed the call ("" for a call the router did not route)."""
    ring_seconds: float = 0.0
    talk_seconds: float = 0.0
    ended_at: float = 0.0
    reason: str = ""
    """Why a call was missed, as an admin reads it ("caller hung up before anyone answered")."""
    ivr: str = ""
    """The IVR context that served the call by itself."""
    by_state: str = ""
    """The answering queue member's state interface, when it differs from `by`."""
    menus: list[list[str]] = field(default_factory=list)
    """[menu, key] of each IVR menu the caller left, in order (from the generated menus' UserEvents)."""
    menu_left: str = ""
    """The menu the caller was still in when the call ended (hung up in it), or ""."""
    type: str = ""
    """The call's type, from its decision as set by the rules or corrected since (set when recorded)."""
    open_task: str | None = None
    """The number's open follow-up when the outcome was recorded ("" none); None: not read yet."""
    hold_seconds: float = 0.0
    """Time the customer was put on hold in the conversation (AMI `Hold` to `Unhold`)."""
    wrapup_seconds: float = 0.0
    """The answering queue member's wrap-up after the call (its `Wrapuptime`, else the queue's from the rules)."""
    agent_talk_seconds: float = 0.0
    """The answering member's part of `talk_seconds` when they transferred the caller (AgentComplete `Reason:
    transfer`): what their handling time counts, so a transfer does not inflate it. 0: the whole talk."""
    event_written: bool = False
    """The call went to the number's customer events with the outcome's own writes."""

    @classmethod
    def timed(cls, linkedid: str, direction: Direction, number: str, answered: bool, started: float,
              answered_at: float | None, ended: float, **more: Any) -> Outcome:
        """From the moments AMI gives: the call began, was answered (or not), ended."""
        return cls(linkedid, direction, number, "answered" if answered else "missed",
                   ring_seconds=round((answered_at or ended) - started, 1),
                   talk_seconds=round(ended - answered_at, 1) if answered_at else 0.0,
                   ended_at=round(ended, 3), **more)

    @property
    def answered(self) -> bool:
        return self.result == "answered"

    @property
    def started(self) -> float:
        return self.ended_at - self.ring_seconds - self.talk_seconds

    @property
    def key(self) -> str:
        """What makes an outcome one: the call and the customer's side of it (its once-only claim)."""
        return f"{self.linkedid}:{self.direction}:{self.number}"

    def record(self) -> OutcomeRecord:
        out: OutcomeRecord = {
            "linkedid": self.linkedid, "direction": self.direction, "number": self.number, "result": self.result,
            "by": self.by, "queue": self.queue, "decision": self.decision, "ring_seconds": self.ring_seconds,
            "talk_seconds": self.talk_seconds, "ended_at": self.ended_at, "reason": self.reason}
        if self.ivr:
            out["ivr"] = self.ivr
        if self.by_state:
            out["by_state"] = self.by_state
        if self.menus:
            out["menus"] = self.menus
        if self.menu_left:
            out["menu_left"] = self.menu_left
        if self.type:
            out["type"] = self.type
        if self.open_task is not None:
            out["open_task"] = self.open_task
        if self.hold_seconds:
            out["hold_seconds"] = self.hold_seconds
        if self.wrapup_seconds:
            out["wrapup_seconds"] = self.wrapup_seconds
        if self.agent_talk_seconds:
            out["agent_talk_seconds"] = self.agent_talk_seconds
        return out

    @property
    def abandoned(self) -> bool:
        """The caller gave up before anyone answered (not a queue's timeout, not a failed step)."""
        return self.direction == "inbound" and not self.answered and self.reason == CALLER_HUNG_UP

    @property
    def callback_requested(self) -> bool:
        """The caller pressed 1 in a queue and hung up keeping his place: he waits for our call."""
        return self.direction == "inbound" and not self.answered and self.reason.startswith(CALLBACK_REQUESTED)

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Outcome:
        """From JSON (the spool, the journal): unknown fields are ignored, missing ones take their defaults."""
        return cls(str(r["linkedid"]), cast(Direction, r["direction"]), str(r["number"]), cast(Result, r["result"]),
                   by=str(r.get("by") or ""), queue=str(r.get("queue") or ""), decision=str(r.get("decision") or ""),
                   ring_seconds=float(r.get("ring_seconds") or 0), talk_seconds=float(r.get("talk_seconds") or 0),
                   ended_at=float(r.get("ended_at") or 0), reason=str(r.get("reason") or ""),
                   ivr=str(r.get("ivr") or ""), by_state=str(r.get("by_state") or ""),
                   menus=[[str(m), str(k)] for m, k in r.get("menus") or ()], menu_left=str(r.get("menu_left") or ""),
                   type=str(r.get("type") or ""), hold_seconds=float(r.get("hold_seconds") or 0),
                   wrapup_seconds=float(r.get("wrapup_seconds") or 0),
                   agent_talk_seconds=float(r.get("agent_talk_seconds") or 0),
                   open_task=None if r.get("open_task") is None else str(r["open_task"]))
