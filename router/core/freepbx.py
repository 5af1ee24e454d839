"""FreePBX destinations as route steps: a target that names what FreePBX built keeps FreePBX's own features.

FreePBX (16 and 17 alike) writes each module's destinations into extensions_additional.conf under fixed
context names; these are the names its modules give in their destination lists (`*_destinations()` /
`*_getdest()` in the module sources):

| `freepbx:` | FreePBX destination | module, where it is named |
|---|---|---|
| `{extension: 101}` | `from-did-direct,101,1` | core: `core_destinations()`, `core_getdest()` |
| `{queue: 400}` | `ext-queues,400,1` | queues: `queues_destinations()`, `queues_getdest()` |
| `{ringgroup: 600}` | `ext-group,600,1` | ringgroups: `ringgroups_destinations()` |
| `{ivr: 3}` | `ivr-3,s,1` | ivr: `ivr_destinations()` |
| `{timecondition: 2}` | `timeconditions,2,1` | timeconditions: `timeconditions_destinations()` |

How the walk goes there: an IVR is entered with `Goto` (an `ivr` step, as the rule file's own IVRs: it is
the end of the walk). Every other destination is rung through a Local channel, `Dial(Local/101@from-did-
direct,TIMEOUT)`: FreePBX's dialplan runs on the Local channel's second half exactly as for a call from its
inbound route, and when it ends without anyone answering — busy, no answer, its own fail-over hanging up —
the Dial returns with DIALSTATUS, so the walk goes on to the rule's next step (a `Goto` into a FreePBX
context never comes back). When FreePBX answers itself (voicemail, a queue that answers its callers) the
call stays there: that is FreePBX's own behaviour. The step's timeout bounds the whole destination: make it
longer than FreePBX's ring time when its voicemail or follow-me should act first.

An extension is busy, for `escalate:`, when its hint is: `hint:101@ext-local` (FreePBX's hint joins the
phone, DND and presence), kept current from AMI ExtensionStatus events; `state:` names another.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FreePBXKind = Literal["extension", "queue", "ringgroup", "ivr", "timecondition"]
CONTEXTS: dict[FreePBXKind, str] = {"extension": "from-did-direct", "queue": "ext-queues", "ringgroup": "ext-group",
                                    "ivr": "ivr-{n}", "timecondition": "timeconditions"}
"""FreePBX's context of each kind of destination (16 and 17)."""
HINT_CONTEXT = "ext-local"
"""Where FreePBX writes each extension's hint (`exten => 101,hint,PJSIP/101&Custom:DND101,CustomPresence:101`)."""
_NUMBER = r"^[0-9A-Za-z_*#+-]{1,40}$"


class FreePBXDestination(BaseModel):
    """Exactly one FreePBX destination: an extension, a queue, a ring group, an IVR or a time condition."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    extension: str | None = Field(None, pattern=_NUMBER)
    queue: str | None = Field(None, pattern=_NUMBER)
    ringgroup: str | None = Field(None, pattern=_NUMBER)
    ivr: str | None = Field(None, pattern=_NUMBER)
    timecondition: str | None = Field(None, pattern=_NUMBER)

    @model_validator(mode="after")
    def _exactly_one(self) -> FreePBXDestination:
        given = [k for k in CONTEXTS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("freepbx: name exactly one of extension, queue, ringgroup, ivr, timecondition")
        return self

    @property
    def kind(self) -> FreePBXKind:
        return next(k for k in CONTEXTS if getattr(self, k) is not None)

    @property
    def number(self) -> str:
        return str(getattr(self, self.kind))

    def destination(self) -> str:
        """As FreePBX writes it: `from-did-direct,101,1`, `ivr-3,s,1`."""
        if self.kind == "ivr":
            return f"ivr-{self.number},s,1"
        return f"{CONTEXTS[self.kind]},{self.number},1"

    def step(self) -> tuple[Literal["dial", "ivr"], str]:
        """The walk's step: an `ivr` Goto into the IVR's context, else a `dial` of a Local channel into it."""
        if self.kind == "ivr":
            return "ivr", f"ivr-{self.number}"
        return "dial", f"Local/{self.number}@{CONTEXTS[self.kind]}"

    def hint(self) -> str | None:
        """The device whose state says an extension is busy: its FreePBX hint; None for the other kinds."""
        return f"hint:{self.number}@{HINT_CONTEXT}" if self.kind == "extension" else None


_LOCAL_FREEPBX = re.compile(r"^Local/[^@]+@(from-did-direct|ext-queues|ext-group|timeconditions)(/n)?$")


def is_freepbx_local(device: str) -> bool:
    """A Local channel into one of FreePBX's destination contexts (`Local/101@from-did-direct`): the call is
    FreePBX's there, and only a phone its dialplan rings, or a queue member, answers it for a person."""
    return bool(_LOCAL_FREEPBX.match(device))


_LOCAL_QUEUE = re.compile(r"^Local/[^@]+@ext-queues(/n)?$")


def is_freepbx_queue(dial: str) -> bool:
    """A step into a FreePBX queue: its priority must reach the Local channel (`_QUEUE_PRIO`, inherited)."""
    return bool(_LOCAL_QUEUE.match(dial))
