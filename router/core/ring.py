"""A phone ringing for a routed call, then answered or not: what a person's page and the CRM show. Pure data.

The AMI listener makes one when the routed caller's leg starts dialing a phone or a queue member
(`DialBegin`, with `AgentCalled` naming the member), another when that dial ends (`DialEnd`:
answered, or not), and closes any left ringing when the call ends. Routers pass them on at once;
nothing is stored: a ring matters while it rings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

RingState = Literal["ringing", "answered", "ended"]


class RingRecord(TypedDict):
    linkedid: str
    decision: str
    number: str
    device: str
    member: str
    state_interface: str
    queue: str
    state: RingState
    at: float


@dataclass(frozen=True, slots=True)
class Ring:
    linkedid: str
    decision: str
    """The decision that routed the call ("" when the router did not route it)."""
    number: str
    """The caller's number, normalised as the router keys it."""
    device: str
    """What rings: `PJSIP/101`, or the queue's channel to a member (`Local/101@from-queue`)."""
    member: str
    """The queue member's interface as the queue names it (`Local/101@from-queue/n`), or ""."""
    state_interface: str
    """The member's state interface when the queue gave one (`PJSIP/101`, `hint:101@ext-local`), or ""."""
    queue: str
    state: RingState
    at: float

    @property
    def devices(self) -> tuple[str, ...]:
        """Every name the ringing phone goes by, to find whose it is."""
        return tuple(d for d in (self.device, self.member, self.state_interface) if d)

    def record(self) -> RingRecord:
        return {"linkedid": self.linkedid, "decision": self.decision, "number": self.number, "device": self.device,
                "member": self.member, "state_interface": self.state_interface, "queue": self.queue,
                "state": self.state, "at": self.at}
