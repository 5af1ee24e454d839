"""The replay record: what a call was decided from, as the decision log keeps it and as replay reads it back.

A decision is `decide(rules, profile(number, AGI header, snapshot, rules, now), busy, now)`, and
everything but the rules is on the log entry once it carries this record (`seen`, next to the
entry's `caller`, `call` and `at`): the snapshot the call's one round trip read, cut to what
`profile` reads, and the bits of the header the entry does not already hold. Keys are short
and empty values left out, because the log keeps one per call for `report.keep_calls`
(docs/changing-rules.md gives the bytes):

| key | what | from |
|---|---|---|
| `e` | 1: the number is E.164 | `Number.e164` |
| `z` | the zone the number itself gives | `Number.zone` |
| `d` | the called number as routed (`agi_dnid`, else the extension) | `Caller.dnid` |
| `w` | seconds of inbound calls read (the rules' longest `calls_within`) | `Seen.window` |
| `cu`, `co` | the directory record, the company of a branch number | `Snapshot.customer`, `.company` |
| `st` | the number's state: only the fields `profile` reads (`STATE_FIELDS`) | `Snapshot.state` |
| `in` | its inbound call times within `w` | `Snapshot.inbound` |
| `nb` | the numbering plan's zone | `Snapshot.numbering` |
| `b` | the busy devices, sorted | `Snapshot.busy` |
| `sg` | the strategy switched at runtime | `Snapshot.strategy` |
| `sw` | the day/night switch flipped at runtime | `Snapshot.switch` |
| `rk` | the stored risk: hits (with their expiry) and the retention task's owner | `Snapshot.risk` |
| `crm`, `cn` | the CRM's answer (null when it did not answer in time), how it was had | `Snapshot.crm`, `.crm_note` |
| `x` | 1: the store did not answer (the call took the fallback chain) | `Seen.store_failed` |

The caller's number and IVR choice are the entry's `caller.number` and `caller.choice`; the raw
caller ID and name its `call`; the time its `at` (to the millisecond). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.core.phones import Number
from router.core.snapshot import EMPTY, Seen, Snapshot

STATE_FIELDS = ("in", "out", "out_ok", "followup", "agent", "agent_at", "agent_state", "task_owner", "prospect")
"""The number's state fields `profile` (router/core/identify.py) reads; the hash holds more bookkeeping."""
RISK_FIELDS = ("hits", "task_owner")
"""The stored risk fields `profile` reads."""


def record(seen: Seen, dnid: str) -> dict[str, Any]:
    """The replay record of one call (see the module's docstring)."""
    snap = seen.snapshot
    out: dict[str, Any] = {}
    if seen.number.e164:
        out["e"] = 1
    if seen.number.zone:
        out["z"] = seen.number.zone
    if dnid:
        out["d"] = dnid
    if seen.window:
        out["w"] = seen.window
    if seen.store_failed:
        out["x"] = 1
        return out
    state = {k: snap.state[k] for k in STATE_FIELDS if k in snap.state}
    risk = {k: snap.risk[k] for k in RISK_FIELDS if k in snap.risk}
    for key, value in (("cu", snap.customer), ("st", state), ("in", snap.inbound), ("nb", snap.numbering),
                       ("b", sorted(snap.busy)), ("co", snap.company), ("sg", snap.strategy), ("sw", snap.switch),
                       ("rk", risk), ("cn", snap.crm_note)):
        if value:
            out[key] = value
    if snap.crm is not None or snap.crm_note:
        out["crm"] = snap.crm
    return out


@dataclass(frozen=True, slots=True)
class Inputs:
    """A logged call's inputs, read back from its entry: what `profile` and `decide` take besides the rules."""

    number: Number
    raw: str
    name: str
    dnid: str
    choice: str
    snapshot: Snapshot
    now: float
    window: int
    store_failed: bool
    crm_known: bool
    """Whether the CRM was asked (its answer, or its silence, is on the record)."""


def inputs(entry: dict[str, Any]) -> Inputs | None:
    """The inputs of a logged decision; None for an entry without a replay record (logged before records were
    kept, or by `router simulate`)."""
    rec = entry.get("seen")
    if rec is None:
        return None
    caller = entry.get("caller") or {}
    call = entry.get("call") or {}
    number = Number(caller.get("number", ""), bool(rec.get("e")), rec.get("z"))
    name = call.get("name", "")
    if name == "unknown":  # as the router reads it (res_agi's word for a caller ID without a name)
        name = ""
    if rec.get("x"):
        snap = EMPTY
    else:
        snap = Snapshot(rec.get("cu") or {}, rec.get("st") or {}, rec.get("in") or [], rec.get("nb"),
                        frozenset(rec.get("b") or ()), rec.get("co"), rec.get("sg"), switch=rec.get("sw"),
                        risk=rec.get("rk") or {}, crm=rec.get("crm"), crm_note=rec.get("cn", ""))
    return Inputs(number, call.get("callerid", ""), name, rec.get("d", ""), caller.get("choice", ""), snap,
                  float(entry["at"]), int(rec.get("w", 0)), bool(rec.get("x")), "crm" in rec)


LOGGED = ("id", "at", "rule", "type", "fallback", "priority", "steps", "escalated", "rules_version", "rollout",
          "seen")
"""What a day's log keeps of an entry (besides the caller and call fields below): the decision as it was
made, what it was made from, and which rules made it. Reasons, latency and the rest of the profile are
left out: replay recomputes them."""
LOGGED_CALLER = ("number", "choice", "kind", "abc", "manager")
LOGGED_CALL = ("callerid", "name")


def logged(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as a day's decision log keeps it, for replay and coverage (see LOGGED)."""
    out = {k: entry[k] for k in LOGGED if k in entry}
    caller, call = entry.get("caller"), entry.get("call")
    if caller is not None:
        out["caller"] = {k: caller[k] for k in LOGGED_CALLER if caller.get(k)}
    if call is not None:
        out["call"] = {k: call[k] for k in LOGGED_CALL if call.get(k)}
    return out
