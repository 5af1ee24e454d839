"""Churn-risk signals: the `risk:` rule section and how a customer's dated events score against it. Pure.

A signal is one condition over the customer's recent events (calls of given types, events of
given kinds, low ratings, an open follow-up) with a weight; the level (none / watch / at_risk)
comes from the sum of the weights of the signals that hold. Every signal that holds also says
until when it holds without new events (`until`): the router stores the result when events
arrive and ring time only drops the hits that have expired since.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from router.core.durations import Duration

LEVELS = ("none", "watch", "at_risk")
CALL = "call"
BUILTIN_KINDS = ("technician_visit", "rating", "ticket_opened", "ticket_closed", "issue_solved", "session_drop")
"""Event kinds every deployment knows; `risk.event_kinds` adds the admin's own. `call` is written by the router."""
KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

Level = Literal["none", "watch", "at_risk"]


class _Section(BaseModel):
    """Like the rule file's other sections: unknown keys are errors, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


Names = Annotated[list[str], BeforeValidator(lambda v: [str(x) for x in _as_list(v)] if isinstance(_as_list(v), list)
                                             else v), Field(min_length=1)]
Days = Annotated[int, Field(gt=0, le=366)]


class CallsSignal(_Section):
    """Calls from the number in the last `days`, of the given `types` (any type when left out)."""

    types: Names | None = None
    direction: Literal["inbound", "outbound"] = "inbound"
    result: Literal["answered", "missed"] | None = None
    days: Days
    at_least: int = Field(1, ge=1, le=1000)


class EventsSignal(_Section):
    kinds: Names
    value: Names | None = None
    days: Days
    at_least: int = Field(1, ge=1, le=1000)


class RatingSignal(_Section):
    at_most: int = Field(ge=1, le=5)
    days: Days
    at_least: int = Field(1, ge=1, le=1000)


class FollowupSignal(_Section):
    """The number has an open missed-call follow-up counting at least `calls` missed calls."""

    calls: int = Field(1, ge=1, le=1000)


class Signal(_Section):
    calls: CallsSignal | None = None
    events: EventsSignal | None = None
    rating: RatingSignal | None = None
    open_followup: FollowupSignal | None = None
    weight: int = Field(1, ge=1, le=100)
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _followup_true(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("open_followup") is True:
            data = {**data, "open_followup": {}}
        return data

    @model_validator(mode="after")
    def _one_condition(self) -> Signal:
        given = [k for k in ("calls", "events", "rating", "open_followup") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a signal needs exactly one of calls, events, rating, open_followup (and a weight)")
        return self


class Levels(_Section):
    watch: int = Field(1, ge=1)
    at_risk: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Levels:
        if self.at_risk < self.watch:
            raise ValueError(f"levels: at_risk ({self.at_risk}) must not be below watch ({self.watch})")
        return self


class RiskSettings(_Section):
    keep_events: Duration = 90 * 86400
    event_kinds: list[str] = []
    levels: Levels = Levels()
    signals: dict[str, Signal] = {}
    owner: str = "retention"
    deadline: Duration = 86400

    @model_validator(mode="after")
    def _kinds(self) -> RiskSettings:
        for k in self.event_kinds:
            if not KIND_NAME.match(k):
                raise ValueError(f"event kind {k!r}: lower-case letters, digits and _ (like speed_complaint)")
            if k == CALL or k in BUILTIN_KINDS:
                raise ValueError(f"event kind {k!r} is built in: no need to declare it")
        return self

    def kinds(self) -> frozenset[str]:
        return frozenset((*BUILTIN_KINDS, *self.event_kinds))

    def window(self) -> int:
        """The longest look-back of any signal, in seconds."""
        return max((s.days * 86400 for s in self._windows()), default=0)

    def _windows(self) -> Iterator[CallsSignal | EventsSignal | RatingSignal]:
        for sig in self.signals.values():
            cond = sig.calls or sig.events or sig.rating
            if cond is not None:
                yield cond


def risk_problems(rs: RiskSettings) -> list[tuple[tuple[Any, ...], str]]:
    """Cross-references inside the section: kinds a signal names, windows longer than the retention."""
    out: list[tuple[tuple[Any, ...], str]] = []
    known = rs.kinds()
    for name, sig in rs.signals.items():
        if not KIND_NAME.match(name):
            out.append((("risk", "signals", name), f"signal name {name!r}: lower-case letters, digits and _"))
        if sig.events is not None:
            for k in sig.events.kinds:
                if k not in known:
                    out.append((("risk", "signals", name, "events", "kinds"),
                                f"unknown event kind {k!r} (built in: {', '.join(BUILTIN_KINDS)}; declare your "
                                f"own under risk.event_kinds)"))
        cond = sig.calls or sig.events or sig.rating
        if cond is not None and cond.days * 86400 > rs.keep_events:
            out.append((("risk", "signals", name), f"signal {name!r} looks {cond.days} days back but events are "
                                                   f"kept only {rs.keep_events // 86400} days (risk.keep_events)"))
    return out


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    kind: str
    at: float
    value: str = ""
    type: str = ""
    direction: str = ""
    result: str = ""

    def packed(self) -> str:
        d = {"id": self.id, "k": self.kind, "t": self.at}
        for key, v in (("v", self.value), ("ty", self.type), ("d", self.direction), ("r", self.result)):
            if v:
                d[key] = v
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def unpack(cls, text: str) -> Event:
        d = json.loads(text)
        return cls(d["id"], d["k"], float(d["t"]), d.get("v", ""), d.get("ty", ""), d.get("d", ""), d.get("r", ""))


@dataclass(frozen=True, slots=True)
class Hit:
    """A signal that holds: its weight, the dates of the events behind it, and until when it holds."""

    name: str
    weight: int
    until: float | None
    dates: tuple[float, ...]
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "until": self.until, "dates": list(self.dates),
                "text": self.text}


def _day(t: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d")


def _count_hit(name: str, weight: int, times: list[float], days: int, at_least: int, text: str) -> Hit | None:
    if len(times) < at_least:
        return None
    times.sort(reverse=True)
    return Hit(name, weight, times[at_least - 1] + days * 86400, tuple(times), text)


def evaluate(rs: RiskSettings, events: list[Event], followup_calls: int, now: float, zone: ZoneInfo) -> list[Hit]:
    """The signals that hold now for one customer, from their events and open follow-up."""
    hits: list[Hit] = []
    for name, sig in rs.signals.items():
        hit: Hit | None = None
        if sig.calls is not None:
            c = sig.calls
            since = now - c.days * 86400
            types = frozenset(c.types) if c.types else None
            times = [e.at for e in events if e.kind == CALL and since <= e.at <= now and e.direction == c.direction
                     and (types is None or e.type in types) and (c.result is None or e.result == c.result)]
            what = "/".join(c.types) + " " if c.types else ""
            res = f"{c.result} " if c.result else ""
            hit = _count_hit(name, sig.weight, times, c.days, c.at_least,
                             f"{len(times)} {res}{what}calls in {c.days} days")
        elif sig.events is not None:
            ev = sig.events
            since = now - ev.days * 86400
            kinds, values = frozenset(ev.kinds), frozenset(ev.value) if ev.value else None
            found = [e for e in events if e.kind in kinds and since <= e.at <= now
                     and (values is None or e.value in values)]
            label = "/".join(ev.kinds) + (f"={'/'.join(ev.value)}" if ev.value else "")
            text = (f"{label} on {_day(max(e.at for e in found), zone)}" if len(found) == 1 else
                    f"{len(found)}× {label} in {ev.days} days") if found else ""
            hit = _count_hit(name, sig.weight, [e.at for e in found], ev.days, ev.at_least, text)
        elif sig.rating is not None:
            r = sig.rating
            since = now - r.days * 86400
            low = [e for e in events if e.kind == "rating" and since <= e.at <= now and _rating(e.value) <= r.at_most]
            text = ", ".join(f"rating {e.value} on {_day(e.at, zone)}" for e in sorted(low, key=lambda e: e.at))
            hit = _count_hit(name, sig.weight, [e.at for e in low], r.days, r.at_least, text)
        elif sig.open_followup is not None and followup_calls >= sig.open_followup.calls:
            hit = Hit(name, sig.weight, None, (), f"open follow-up, {followup_calls} missed call(s)")
        if hit is not None:
            hits.append(hit)
    return hits


def _rating(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 99


def level_of(rs: RiskSettings, score: int) -> str:
    if score >= rs.levels.at_risk:
        return "at_risk"
    if score >= rs.levels.watch:
        return "watch"
    return "none"


def live_hits(stored: str | None, now: float) -> tuple[Hit, ...]:
    """The stored hits that still hold at `now` (those whose events aged out since are dropped)."""
    if not stored:
        return ()
    out = []
    for d in json.loads(stored):
        until = d.get("until")
        if until is None or until > now:
            out.append(Hit(d["name"], int(d["weight"]), until, tuple(d.get("dates", ())), d.get("text", "")))
    return tuple(out)


def next_change(hits: list[Hit] | tuple[Hit, ...]) -> float | None:
    """When the earliest hit expires: the moment the stored state must be computed again."""
    return min((h.until for h in hits if h.until is not None), default=None)
