"""One finished call as the daily report counts it. Pure: no I/O, no clock.

A call becomes a raw record (one row of the day's CSV) and a handful of counter increments
on its day's aggregate hash; a day's report is the sum of those counters, so it costs the
same for 100 calls or 10,000. Counter fields are `dimension|name|metric`, all integers:

- `in`, `in|m`: inbound calls from outside numbers; of them missed. `t|TYPE`, `t|TYPE|m`: the same
  per call type (a missed call keeps its type); `q|…`, `mg|…`, `d|…`, `h|HH`: per queue, personal
  manager, called number, hour of the company day.
- `int`, `int|m`: internal calls. `out`, `out|ok`: outbound calls; those the customer answered.
- `ra|S`, `rm|S`: calls that rang S whole seconds before an answer / before the caller gave up.
- `cb`, `cb|ok`, `cbd|S`: our calls to a number with an unanswered miss; answered; S seconds from
  the miss to the first attempt (whole minutes from two minutes on, as for `fct`).
- `a|AGENT|n`, `a|AGENT|out`, `a|AGENT|ds`: calls an agent (device) answered, customers it reached
  outbound, tenths of a second on the phone.
- `fo|OWNER`, `fc|OWNER`, `fl|OWNER`, `fct|OWNER|S`: follow-ups opened, closed, closed after the
  deadline, S seconds from opening to closing.
- `mn|MENU|in`, `mn|MENU|k|KEY`, `mn|MENU|left`: callers who entered a menu, who left it by KEY (a key,
  `timeout`, `invalid`, `input`), who hung up in it; `mt|MENU|TYPE`: the calls of each type that came
  from the menu (the last one a caller left). Each counted once per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NotRequired, TypedDict
from zoneinfo import ZoneInfo

from router.core.facts import DecisionFacts
from router.core.outcome import Outcome
from router.core.phones import is_extension
from router.core.rules import INTERNAL_TYPE
from router.core.tasks import Task

SEP = "|"
KEEP_DAYS = 400 * 86400
KEEP_CALLS = 90 * 86400
UTC = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Calendar:
    """The company's day (reports count in its zone) and how long the store keeps what the report reads."""

    zone: ZoneInfo = UTC
    keep_days: int = KEEP_DAYS
    keep_calls: int = KEEP_CALLS


def clean(name: str) -> str:
    """A name as a counter-field segment: the separator cannot appear inside it."""
    return name.replace(SEP, "/")


def day_of(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).date().isoformat()


class CallRecord(TypedDict):
    """One call as the day's raw calls keep it: one row of the CSV export."""

    day: str
    time: str
    at: float
    direction: Literal["inbound", "outbound", "internal"]
    number: str
    type: str
    result: str
    by: str
    queue: str
    manager: str
    dnid: str
    rule: str
    kind: str
    abc: str
    ring_seconds: float
    talk_seconds: float
    callback_after_seconds: int | str
    decision: str
    linkedid: str
    type_by: NotRequired[str]
    type_at: NotRequired[float]
    menu: NotRequired[str]
    """The last menu the caller left, when it left one: a corrected type moves that menu's count too."""


@dataclass(slots=True)
class Tally:
    """What one finished call adds to the report: its day, its raw record, its counters."""

    day: str
    key: str
    record: CallRecord
    counters: dict[str, int]
    state: dict[str, str | float] = field(default_factory=dict)
    """Fields to set in the number's state hash (`miss`, `miss_cb`, `prospect`)."""
    clear: tuple[str, ...] = ()
    """Fields to delete from the number's state hash."""


def coarse(seconds: float) -> int:
    """Whole seconds under two minutes, whole minutes above: a day's distribution of delays then takes a few
    hundred counter fields, not thousands, and a month still sums in a blink."""
    s = max(0, int(seconds + 0.5))
    return s if s < 120 else (s + 30) // 60 * 60


def call_key(o: Outcome) -> str:
    """A routed call is known by its decision id (what a type correction names), others by their channel."""
    return o.decision or o.key


def tally_call(o: Outcome, meta: DecisionFacts, state: Mapping[str, str | None], zone: ZoneInfo) -> Tally:
    """`o` an outcome (with `type`), `meta` its decision's facts, `state` the number's `miss`/`miss_cb`."""
    started = o.started
    at = float(meta.get("at") or started)
    local = datetime.fromtimestamp(at, zone)
    number = o.number
    call_type = o.type
    answered = o.answered
    direction: Literal["inbound", "outbound", "internal"] = o.direction
    if direction == "inbound" and (is_extension(number) or call_type == INTERNAL_TYPE):
        direction = "internal"
    record: CallRecord = {
        "day": local.date().isoformat(), "time": local.strftime("%H:%M:%S"), "at": round(at, 3),
        "direction": direction, "number": number, "type": call_type, "result": o.result, "by": o.by,
        "queue": o.queue or meta.get("queue", ""), "manager": meta.get("manager", ""), "dnid": meta.get("dnid", ""),
        "rule": meta.get("rule", ""), "kind": meta.get("kind", ""), "abc": meta.get("abc", ""),
        "ring_seconds": o.ring_seconds, "talk_seconds": o.talk_seconds, "callback_after_seconds": "",
        "decision": o.decision, "linkedid": o.linkedid}
    c: dict[str, int] = {}
    tally = Tally(record["day"], call_key(o), record, c)
    ring = str(int(o.ring_seconds + 0.5))
    agent = clean(o.by)
    if answered and agent and not o.ivr:  # staff load counts people, not the self-service IVR
        c[f"a|{agent}|{'out' if direction == 'outbound' else 'n'}"] = 1
        c[f"a|{agent}|ds"] = round(o.talk_seconds * 10)
    if direction == "internal":
        c["int"] = 1
        if not answered:
            c["int|m"] = 1
        return tally
    if direction == "outbound":
        c["out"] = 1
        if answered:
            c["out|ok"] = 1
            tally.state["prospect"] = 0
        miss = state.get("miss")
        if miss:
            c["cb"] = 1
            if answered:
                c["cb|ok"] = 1
                tally.clear = ("miss", "miss_cb")
            if not state.get("miss_cb"):
                delay = max(0, int(started - float(miss) + 0.5))
                c[f"cbd|{coarse(delay)}"] = 1
                record["callback_after_seconds"] = delay
                tally.state["miss_cb"] = 1
        return tally
    c.update(tally_menus(o.menus, o.menu_left, call_type))
    if o.menus and not o.menu_left:
        record["menu"] = o.menus[-1][0]  # so that a type corrected later moves its menu's count too
    suffix = "" if answered else "|m"
    dims = ["in", f"t|{clean(call_type)}", f"h|{local.hour:02d}"]
    for dim, name in (("q", record["queue"]), ("mg", record["manager"]), ("d", record["dnid"])):
        if name:
            dims.append(f"{dim}|{clean(name)}")
    for d in dims:
        c[d] = 1
        if not answered:
            c[d + suffix] = 1
    c[f"{'ra' if answered else 'rm'}|{ring}"] = 1
    if answered and not o.ivr:  # a prospect stays one until a person talked to them
        tally.state["prospect"] = 0
        tally.clear = ("miss", "miss_cb")
    elif not answered and not state.get("miss"):
        tally.state["miss"] = started
    return tally


def tally_menus(menus: list[list[str]], left: str, call_type: str) -> dict[str, int]:
    """What one call's way through the menus adds: `menus` the [menu, key] it left them by, in order;
    `left` the menu it was in at its end (empty when it left every menu)."""
    out: dict[str, int] = {}
    for menu, key in menus:
        out[f"mn|{clean(menu)}|in"] = 1
        out[f"mn|{clean(menu)}|k|{clean(key)}"] = 1
    if left:
        out[f"mn|{clean(left)}|in"] = 1
        out[f"mn|{clean(left)}|left"] = 1
    elif menus:
        out[f"mt|{clean(menus[-1][0])}|{clean(call_type)}"] = 1
    return out


def retype(record: CallRecord, new_type: str) -> dict[str, int]:
    """Counter changes that move a recorded call from its type to `new_type`."""
    old = record.get("type", "")
    if record.get("direction") != "inbound" or old == new_type:
        return {}
    missed = record.get("result") != "answered"
    out = {f"t|{clean(old)}": -1, f"t|{clean(new_type)}": 1}
    if missed:
        out |= {f"t|{clean(old)}|m": -1, f"t|{clean(new_type)}|m": 1}
    if record.get("menu"):
        menu = clean(record["menu"])
        out |= {f"mt|{menu}|{clean(old)}": -1, f"mt|{menu}|{clean(new_type)}": 1}
    return out


CALLBACK_STAGES = {"requested": "cbq", "attempted": "cba", "reached": "cbr"}
"""Callbacks the router dials, per task owner: requested (a caller pressed 1 and keeps his place), attempted (an
Originate started, the agent's phone rung), reached (the customer answered): `cbq|OWNER`, `cba|…`, `cbr|…`."""


def tally_callback(stage: str, owner: str) -> dict[str, int]:
    return {f"{CALLBACK_STAGES[stage]}|{clean(owner)}": 1}


def tally_followup_opened(owner: str) -> dict[str, int]:
    return {f"fo|{clean(owner)}": 1}


def tally_followup_closed(task: Task, at: float) -> dict[str, int]:
    owner = clean(task.get("owner", ""))
    seconds = coarse(at - float(task.get("created", at)))
    out: dict[str, int] = {f"fc|{owner}": 1, f"fct|{owner}|{seconds}": 1}
    if at > float(task.get("deadline", at)):
        out[f"fl|{owner}"] = 1
    return out
