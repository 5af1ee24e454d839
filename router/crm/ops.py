"""What the router's events become for a CRM: operations queued in the outbox, one message each. Pure.

| router event | operation | Bitrix24 | amoCRM |
|---|---|---|---|
| a routed call's answer went to Asterisk | `call_start` | telephony.externalcall.register | (logged at its end) |
| a phone starts / stops ringing for it | `ring` | telephony.externalcall.show / hide | — |
| the call's outcome | `call_end` | telephony.externalcall.finish | POST /api/v4/calls |
| a follow-up or retention task opens | `task_open` | tasks.task.add | POST /api/v4/tasks |
| another missed call, a comment, a callback not answered | `task_comment` | task.commentitem.add | a note |
| the task escalates or is taken | `task_assign` | tasks.task.update RESPONSIBLE_ID | PATCH /api/v4/tasks/{id} |
| the task closes | `task_close` | tasks.task.complete | PATCH is_completed |

An operation carries the router's names (people, phones, task and call ids), never the CRM's:
those are looked up when it is sent — the people from the users read at start, the call's and the
task's ids from what the CRM answered to the operations before it — so fixing a user's mapping lets
a waiting message through, and an operation never needs an id it could not have had when queued.

Every operation of one customer goes in one group (`crm:+7…`): the call is registered before its
card is shown, finished before its task is opened (the task is bound to the entity the register
found), and a task is added before it is commented, re-assigned or completed. `once` keys make an
event that every router sees (a ring) or that can be told twice (an outcome retried after a store
error) one message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Literal, TypedDict
from zoneinfo import ZoneInfo

from router.core.outcome import Outcome
from router.core.ring import Ring
from router.core.rules import RuleSet
from router.core.tasks import TaskEvent

OpName = Literal["call_start", "ring", "call_end", "task_open", "task_comment", "task_assign", "task_close"]
RING_ONCE_FOR = 600
"""A ring event every router sees becomes one message: its `once` key outlives the ring by this much."""
CALL_ONCE_FOR = 2 * 86400
"""A call's register and finish are queued once, whichever router and however often the outcome is told."""


class CrmOp(TypedDict, total=False):
    op: OpName
    number: str
    call: str
    """The call's key: its decision id, else its outcome's key (a call the router did not route)."""
    direction: Literal["inbound", "outbound"]
    started: float
    at: float
    user: str
    """The person the call or task is for, by the rule file's name ("" — the CRM's default user)."""
    devices: list[str]
    """The phone that rang or answered, by every name it goes by (ring, outcome)."""
    state: Literal["ringing", "ended"]
    duration: int
    status: Literal["200", "304", "486"]
    """telephony.externalcall.finish STATUS_CODE: answered, missed, busy."""
    linkedid: str
    task: str
    kind: Literal["followup", "retention"]
    title: str
    text: str
    deadline: float
    first_call: str
    """The key of the call that opened the task: its entity is the task's binding."""


def iso(ts: float, zone: str) -> str:
    """ISO 8601 with the offset, as Bitrix24 takes CALL_START_DATE and DEADLINE: 2026-11-23T10:30:00+03:00."""
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).isoformat(timespec="seconds")


_FIELD = re.compile(r"\{(\w+)\}")


def fill(template: str, values: Mapping[str, object]) -> str:
    """`{placeholders}` from the event only (no environment: a title never carries a secret)."""
    return _FIELD.sub(lambda m: str(values.get(m.group(1), m.group(0))), template).strip()


def group_of(op: CrmOp) -> str:
    """A customer's operations go out in order, one at a time; different customers side by side."""
    return f"crm:{op.get('number') or op.get('call') or op.get('task')}"


def once_of(op: CrmOp) -> tuple[str, int]:
    """(once key, how long it holds after sending) for operations that may be told more than once."""
    name = op["op"]
    if name == "ring":
        return f"crm:ring:{op['linkedid']}:{op['devices'][0]}:{op['state']}:{op['at']:.6f}", RING_ONCE_FOR
    if name in ("call_start", "call_end"):
        return f"crm:{name}:{op['call']}", CALL_ONCE_FOR
    if name == "task_open":
        return f"crm:task_open:{op['task']}", CALL_ONCE_FOR
    return "", 0


def responsible(entry: dict, rs: RuleSet) -> str:
    """Whom a routed call is for: the caller's manager, else the rule's owner, the first target's owner, or
    the first step when it is a person of the managers table; "" for the CRM's default user."""
    caller = entry.get("caller") or {}
    if caller.get("manager"):
        return str(caller["manager"])
    rule = next((r for r in rs.rules if r.name == entry.get("rule")), None)
    if rule is not None and rule.owner:
        return rule.owner
    steps = entry.get("steps") or []
    first = str(steps[0].get("name", "")) if steps else ""
    target = rs.targets.get(first)
    if target is not None and target.owner:
        return target.owner
    return first if first in rs.managers else ""


def call_start(entry: dict, rs: RuleSet) -> CrmOp | None:
    """A routed call, registered once its answer is with Asterisk; None for a caller without a number."""
    number = str((entry.get("caller") or {}).get("number") or "")
    if not number.startswith("+") or entry.get("type") == "internal":
        return None
    return {"op": "call_start", "number": number, "call": str(entry["id"]), "direction": "inbound",
            "started": float(entry["at"]), "at": float(entry["at"]), "user": responsible(entry, rs)}


def ring(r: Ring) -> CrmOp | None:
    """A card shown while a phone rings, hidden when it stops; an answered phone keeps it until the finish."""
    if r.state == "answered" or not r.number.startswith("+"):
        return None
    return {"op": "ring", "number": r.number, "call": r.decision or r.linkedid, "linkedid": r.linkedid,
            "devices": list(r.devices), "state": r.state, "at": r.at}


def status_code(o: Outcome) -> Literal["200", "304", "486"]:
    if o.answered:
        return "200"
    return "486" if "BUSY" in o.reason else "304"


def call_end(o: Outcome) -> CrmOp | None:
    if not o.number.startswith("+"):
        return None
    return {"op": "call_end", "number": o.number, "call": o.decision or o.key, "direction": o.direction,
            "started": o.started, "at": o.ended_at, "devices": [d for d in (o.by, o.by_state) if d],
            "duration": int(o.talk_seconds), "status": status_code(o), "linkedid": o.linkedid}


def task_op(e: TaskEvent, titles: tuple[str, str]) -> CrmOp | None:
    """The operation a task's change is for the CRM: (follow-up title, retention title) as templates."""
    t = e.task
    op = CrmOp(number=t.get("number", ""), task=t.get("id", ""), at=e.at, text=e.text)
    if e.change in ("opened", "retention_opened"):
        retention = e.change == "retention_opened"
        values = {"number": t.get("number", ""), "name": t.get("name", ""), "id": t.get("id", "")}
        op["op"], op["kind"] = "task_open", "retention" if retention else "followup"
        op["title"] = fill(titles[1] if retention else titles[0], values)
        op["user"], op["deadline"] = t.get("owner", ""), float(t.get("deadline") or e.at)
        op["first_call"] = "" if retention else t.get("decision") or f"{t.get('call')}:inbound:{t.get('number')}"
    elif e.change in ("missed_again", "callback_missed", "commented"):
        op["op"] = "task_comment"
    elif e.change in ("escalated", "taken"):
        op["op"], op["user"] = "task_assign", t.get("owner", "")
    elif e.change == "closed":
        op["op"] = "task_close"
    else:
        return None
    return op


def label(op: CrmOp, crm: str) -> str:
    """How the message reads on its task and in the log: `Bitrix24 task_open for fu-…`."""
    about = op.get("task") or op.get("call", "")
    return f"{crm} {op['op']} for {about}"
