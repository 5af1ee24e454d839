"""One finished call as the daily report counts it. Pure: no I/O, no clock.

A call becomes a raw record (one row of the day's CSV) and a handful of counter increments
on its day's aggregate hash; a day's report is the sum of those counters, so it costs the
same for 100 calls or 10,000. Counter fields are `dimension|name|metric`, all integers:

- `in`, `in|m`, `in|k`: inbound calls from outside numbers; of them missed; of them callers who pressed 1 in a
  queue and hung up keeping their place (a requested callback: neither answered nor missed). `t|TYPE`,
  `t|TYPE|m`, `t|TYPE|k`: the same per call type (a missed call keeps its type); `q|…`, `mg|…`, `d|…`, `h|HH`:
  per queue, personal manager, called number, hour of the company day (calls and missed).
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
- The standard figures' fields (service level, speed of answer, abandons, handle time, recalls) are listed in
  router/reports/standardtally.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NotRequired, TypedDict
from zoneinfo import ZoneInfo

import orjson

from router.core.facts import DecisionFacts
from router.core.outcome import Outcome
from router.core.phones import is_extension
from router.core.rules import INTERNAL_TYPE
from router.core.tasks import Task
from router.reports import standardtally as std

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
    short_abandon: float = 5.0
    """A caller gone sooner is a short abandon (the rule file's `report.short_abandon`)."""


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
    hold_seconds: NotRequired[float]
    wrapup_seconds: NotRequired[float]
    agent_talk_seconds: NotRequired[float]
    abandoned: NotRequired[int]
    """1 when the caller hung up before anyone answered (a timeout or a failed step is missed, not abandoned)."""
    callback_requested: NotRequired[int]
    """1 when the caller pressed 1 in a queue and hung up keeping his place: not a missed call."""


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
    earlier: dict[str, dict[str, int]] = field(default_factory=dict)
    """Counters of an earlier day: the number's previous call, now known to be followed by a further call."""
    recall: tuple[str, str, int] | None = None
    """(day, call key, seconds) of the number's previous call this call came after, for its CSV row."""


def coarse(seconds: float) -> int:
    """Whole seconds under two minutes, whole minutes above: a day's distribution of delays then takes a few
    hundred counter fields, not thousands, and a month still sums in a blink."""
    s = max(0, int(seconds + 0.5))
    return s if s < 120 else (s + 30) // 60 * 60


def call_key(o: Outcome) -> str:
    """A routed call is known by its decision id (what a type correction names), others by their channel."""
    return o.decision or o.key


def tally_call(o: Outcome, meta: DecisionFacts, state: Mapping[str, str | None], zone: ZoneInfo,
               short_abandon: float = 5.0) -> Tally:
    """`o` an outcome (with `type`), `meta` its decision's facts, `state` the number's `miss`/`miss_cb`/`last_in`."""
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
    if o.hold_seconds:
        record["hold_seconds"] = o.hold_seconds
    if o.wrapup_seconds:
        record["wrapup_seconds"] = o.wrapup_seconds
    if o.agent_talk_seconds:
        record["agent_talk_seconds"] = o.agent_talk_seconds
    if o.abandoned:
        record["abandoned"] = 1
    if o.callback_requested:
        record["callback_requested"] = 1
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
    kept = o.callback_requested
    dims = ["in", f"t|{clean(call_type)}", f"h|{local.hour:02d}"]
    for dim, name in (("q", record["queue"]), ("mg", record["manager"]), ("d", record["dnid"])):
        if name:
            dims.append(f"{dim}|{clean(name)}")
    for d in dims:
        c[d] = 1
        if not answered and not kept:
            c[d + "|m"] = 1
    if kept:
        c["in|k"] = 1
        c[f"t|{clean(call_type)}|k"] = 1
    elif answered:
        c[f"ra|{ring}"] = 1
    else:
        c[f"rm|{ring}"] = 1
    if std.is_offered(o, direction):
        tally_standard(tally, o, f"{local.hour:02d}", state, short_abandon)
    if answered and not o.ivr:  # a prospect stays one until a person talked to them
        tally.state["prospect"] = 0
        tally.clear = ("miss", "miss_cb")
    elif not answered and not state.get("miss"):
        tally.state["miss"] = started
    return tally


def tally_standard(tally: Tally, o: Outcome, hour: str, state: Mapping[str, str | None],
                   short_abandon: float) -> None:
    """The standard figures' counters of an offered call; when it is a contact, the recall of the number's
    previous one (on that call's day) and the number's new last contact."""
    queue = tally.record["queue"]
    tally.counters.update(std.standard_counters(o, hour, queue, short_abandon))
    if not std.is_contact(o, short_abandon) or not o.number.startswith("+"):
        return
    previous = std.state_fields(state)
    if previous is not None:
        found = std.recall_counters(previous, o.started)
        if found is not None:
            tally.recall = (previous["day"], previous["key"], found[0])
            tally.earlier[previous["day"]] = found[1]
    tally.state["last_in"] = orjson.dumps(std.last_contact(o, tally.day, tally.key, hour, queue)).decode()


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
    out = {f"t|{clean(old)}": -1, f"t|{clean(new_type)}": 1}
    if record.get("result") != "answered":
        mark = "|k" if record.get("callback_requested") else "|m"
        out |= {f"t|{clean(old)}{mark}": -1, f"t|{clean(new_type)}{mark}": 1}
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
