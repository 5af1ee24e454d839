"""What one finished inbound call adds to the standard call-centre figures (service level, speed of answer,
abandons, handle time, first-contact resolution). Pure: no I/O, no clock.

The figures are counted per *scope*: the whole day (`day|all`), each queue (`q|NAME`), each agent (`a|NAME`,
the queue member or device that answered) and each hour of the company day (`h|HH`). Fields, all integers,
written beside the daily report's own in the outcome's one write:

- `so|SCOPE` calls offered to people (inbound from outside, not served by a self-service menu or IVR);
  `sa|SCOPE` answered; `sab|SCOPE` abandoned (the caller hung up before an answer; a queue's timeout or a
  failed step is not an abandon); `ssa|SCOPE` of those, short abandons (gone within `report.short_abandon`).
- `sw|SCOPE|S`, `sb|SCOPE|S`: answered / abandoned calls that waited S whole seconds (`wait_bucket`);
  `sws|SCOPE` tenths of a second waited by the answered calls, for an exact average.
- `sht|SCOPE` tenths of a second of handling (talk + hold + wrap-up) of the answered calls.
- `rc|SCOPE|S`, `rca|SCOPE|S`: calls after which the same number called again S seconds later
  (`recall_bucket`), counted on the earlier call's day and scopes; `rca` those the earlier call was answered.

Why histograms and not lists: counters sum over days (a month's report adds its days' hashes), a threshold
changed in the rule file applies to past days as well, and a busy day costs a few hundred fields per scope
however many calls it had. The price: waits are exact to the whole second up to SERVICE_LEVEL_MAX, recalls
to the minute (to the hour after two days) — what thresholds in whole seconds and whole days need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypedDict

import orjson

from router.core.outcome import Outcome
from router.core.rules import RECALL_WINDOW_MAX, SERVICE_LEVEL_MAX

SEP = "|"
DAY_SCOPE = "day|all"


class LastContact(TypedDict):
    """A number's last offered call, kept in its state hash (`last_in`): what a further call counts a recall of."""

    at: float
    day: str
    key: str
    answered: bool
    scopes: list[str]


def scope_name(name: str) -> str:
    return name.replace(SEP, "/")


def wait_bucket(seconds: float) -> int:
    """Whole seconds, cut down as Asterisk counts a queue's hold time (20.7 s waited 20 s), up to
    SERVICE_LEVEL_MAX; whole minutes beyond (cut down too)."""
    s = max(0, int(seconds))
    return s if s <= SERVICE_LEVEL_MAX else s // 60 * 60


def recall_bucket(seconds: float) -> int:
    """Seconds rounded up to the whole minute (to the whole hour after two days): a window of whole hours
    then holds exactly the recalls that came within it."""
    step = 60 if seconds <= 2 * 86400 else 3600
    return max(step, math.ceil(seconds / step) * step)


def scopes_of(o: Outcome, hour: str, queue: str) -> list[str]:
    """`queue`: the one that answered, else the one the decision sent the caller to (the CSV's `queue`)."""
    scopes = [DAY_SCOPE, f"h|{hour}"]
    if queue:
        scopes.append(f"q|{scope_name(queue)}")
    if o.answered and o.by:
        scopes.append(f"a|{scope_name(o.by)}")
    return scopes


def is_offered(o: Outcome, direction: str) -> bool:
    """A call a person was to answer: from outside, not served by a self-service menu or IVR."""
    return direction == "inbound" and not o.ivr


def handle_tenths(o: Outcome) -> int:
    """Talk (the answering agent's part, when they transferred the caller) + hold + wrap-up, in tenths."""
    return round(((o.agent_talk_seconds or o.talk_seconds) + o.hold_seconds + o.wrapup_seconds) * 10)


def standard_counters(o: Outcome, hour: str, queue: str, short_abandon: float) -> dict[str, int]:
    """The fields one offered call adds on its own day (`hour` its hour, HH, of the company day)."""
    c: dict[str, int] = {}
    wait = o.ring_seconds
    for scope in scopes_of(o, hour, queue):
        c[f"so|{scope}"] = 1
        if o.answered:
            c[f"sa|{scope}"] = 1
            c[f"sw|{scope}|{wait_bucket(wait)}"] = 1
            c[f"sws|{scope}"] = round(wait * 10)
            c[f"sht|{scope}"] = handle_tenths(o)
        elif o.abandoned:
            c[f"sab|{scope}"] = 1
            c[f"sb|{scope}|{wait_bucket(wait)}"] = 1
            if wait < short_abandon:
                c[f"ssa|{scope}"] = 1
    return c


def is_contact(o: Outcome, short_abandon: float) -> bool:
    """A call that counts for first-contact resolution: not a short abandon (a misdial, a caller who changed
    their mind at once)."""
    return not (o.abandoned and o.ring_seconds < short_abandon)


def last_contact(o: Outcome, day: str, key: str, hour: str, queue: str) -> LastContact:
    return {"at": round(o.started, 3), "day": day, "key": key, "answered": o.answered,
            "scopes": scopes_of(o, hour, queue)}


def read_last_contact(raw: str | bytes | None) -> LastContact | None:
    if not raw:
        return None
    try:
        found = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(found, dict) or not {"at", "day", "key", "scopes"} <= found.keys():
        return None
    return {"at": float(found["at"]), "day": str(found["day"]), "key": str(found["key"]),
            "answered": bool(found.get("answered")), "scopes": [str(s) for s in found["scopes"]]}


def recall_counters(earlier: LastContact, at: float) -> tuple[int, dict[str, int]] | None:
    """(seconds, fields on the earlier call's day) when a call at `at` is a further call after `earlier`;
    None when it came later than any window may be (RECALL_WINDOW_MAX) or before it (clock skew)."""
    seconds = at - float(earlier["at"])
    if not 0 < seconds <= RECALL_WINDOW_MAX:
        return None
    bucket = recall_bucket(seconds)
    c: dict[str, int] = {}
    for scope in earlier["scopes"]:
        c[f"rc|{scope}|{bucket}"] = 1
        if earlier.get("answered"):
            c[f"rca|{scope}|{bucket}"] = 1
    return round(seconds), c


def state_fields(state: Mapping[str, str | None]) -> LastContact | None:
    return read_last_contact(state.get("last_in"))
