"""Customer events from outside (the CRM, billing, surveys): checked one by one, bad ones reported.

An event is `id, number, kind, at[, value]`. The id makes sending the same batch twice harmless.
`at` is ISO 8601 (the company's zone when it names none) or Unix seconds.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from router.core.phones import normalise_uncached, why_invalid
from router.core.risk import CALL, Event, RiskSettings

COLUMNS = ("id", "number", "kind", "at", "value", "note")
MAX_ID = 100
FUTURE_SLACK = 3600
"""An event may be dated up to an hour ahead (clocks differ), not more."""
SOLVED_VALUES = ("yes", "no")
_read_number = normalise_uncached


@dataclass(slots=True)
class Batch:
    events: list[tuple[str, Event]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _time(value: object, zone: ZoneInfo) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value or "").strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"at {text[:40]!r}: write ISO 8601 like 2026-11-23T10:15 (company time unless an offset "
                         "is given) or Unix seconds") from None
    return (t if t.tzinfo else t.replace(tzinfo=zone)).timestamp()


def parse_event(d: dict, rs: RiskSettings, zone: ZoneInfo, region: str, now: float) -> tuple[str, Event]:
    """One event as given -> (E.164 number, Event); ValueError says what is wrong."""
    event_id = str(d.get("id") or "").strip()
    if not event_id or len(event_id) > MAX_ID:
        raise ValueError(f"id is required (at most {MAX_ID} characters): it makes a re-sent event count once")
    raw = str(d.get("number") or "").strip()
    if why := why_invalid(raw, region):
        raise ValueError(why)
    number = _read_number(raw, region)
    kind = str(d.get("kind") or "").strip()
    if kind == CALL:
        raise ValueError("kind 'call' is recorded by the router from the calls themselves")
    if kind not in rs.kinds():
        raise ValueError(f"unknown kind {kind[:40]!r} (known: {', '.join(sorted(rs.kinds()))}; declare your own "
                         "under risk.event_kinds)")
    at = _time(d.get("at"), zone)
    if at > now + FUTURE_SLACK:
        raise ValueError(f"at {d.get('at')!s:.40} is in the future")
    if at < now - rs.keep_events:
        raise ValueError(f"at {d.get('at')!s:.40} is older than the {rs.keep_events // 86400} days events are kept")
    value = str(d.get("value") if d.get("value") is not None else "").strip()[:100]
    if kind == "rating" and value not in ("1", "2", "3", "4", "5"):
        raise ValueError(f"a rating's value is 1 to 5, not {value[:10]!r}")
    if kind == "issue_solved":
        value = value.lower()
        if value not in SOLVED_VALUES:
            raise ValueError(f"issue_solved's value is yes or no, not {value[:10]!r}")
    return number.key, Event(event_id, kind, at, value)


def parse_batch(items: list, rs: RiskSettings, zone: ZoneInfo, region: str, now: float) -> Batch:
    """Each item checked on its own: problems say `#index: …`, the good events are kept."""
    batch = Batch()
    for i, d in enumerate(items):
        if not isinstance(d, dict):
            batch.problems.append(f"#{i}: an event is an object with id, number, kind, at")
            continue
        try:
            batch.events.append(parse_event(d, rs, zone, region, now))
        except ValueError as e:
            batch.problems.append(f"#{i}: {e}")
    return batch


def read_csv(path: str, rs: RiskSettings, zone: ZoneInfo, region: str, now: float) -> Batch:
    """`id,number,kind,at,value,note` rows; a bad row is reported as `file:line` and skipped."""
    batch = Batch()
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in COLUMNS[:4] if c not in header]
        if missing:
            batch.problems.append(f"{path}:1: the header must name the columns {','.join(COLUMNS)} "
                                  f"(missing: {', '.join(missing)})")
            return batch
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            batch.problems.append(f"{path}:1: unknown columns {', '.join(unknown)} are ignored")
        reader.fieldnames = header
        for row in reader:
            if None in row:
                batch.problems.append(f"{path}:{reader.line_num}: more fields than columns; row skipped")
                continue
            try:
                batch.events.append(parse_event(row, rs, zone, region, now))
            except ValueError as e:
                batch.problems.append(f"{path}:{reader.line_num}: {e}; row skipped")
    return batch
