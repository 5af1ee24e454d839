"""The company's own dates from files named by `calendar.files`, read when the rules are loaded.

Three formats, told by the file's extension (paths are relative to the rule path's folder):
- `.csv`: `date,name,kind` — an ISO date, a name (may be empty), `holiday` (the default) or `workday`; a
  first row starting with `date` is a header; `#` starts a comment line.
- `.yaml`/`.yml`: `holidays:` and `workdays:`, each a list of dates or `{date, name}`, as in the rule file
  (read by router/core/rulefile.py, the one module that parses YAML, with `dates_from_data` here).
- `.ics` (iCalendar, read with the `icalendar` library): every event is a day off on each day it covers
  (an all-day event's DTEND is the day after its last), named by its SUMMARY; an event whose CATEGORIES
  include `workday` is a working day instead. A yearly or other RRULE is expanded for RRULE_YEARS years
  (python-dateutil), at most MAX_DATES dates.

Problems come back as (line, message) with the file's line where the format has lines, else line 1.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path

import icalendar
from dateutil.rrule import rrulestr
from pydantic import ValidationError

from router.core.calendar import CalendarDate

MAX_BYTES = 1024 * 1024
MAX_DATES = 10_000
RRULE_YEARS = 20
Problems = list[tuple[int, str]]


def read_dates(path: Path) -> tuple[list[CalendarDate], Problems]:
    """The dates of one file, and its problems (each with a line)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return [], [(1, f"{size:,} bytes: a calendar file may hold at most {MAX_BYTES:,}")]
        raw = path.read_bytes()
    except OSError as e:
        return [], [(1, f"cannot read the calendar file: {e.strerror or e}")]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv(raw)
    if suffix == ".ics":
        return _ics(raw)
    return [], [(1, f"unknown calendar file type {suffix or '(none)'!r}: use .csv, .yaml, .yml or .ics")]


def _entry(value: object, kind: str, line: int, problems: Problems) -> CalendarDate | None:
    data = value if isinstance(value, dict) else {"date": value}
    try:
        return CalendarDate.model_validate({**data, "kind": kind})
    except ValidationError as e:
        problems.append((line, "; ".join(f"{'.'.join(map(str, err['loc'])) or 'date'}: {err['msg']}"
                                         for err in e.errors(include_url=False))))
        return None


def _csv(raw: bytes) -> tuple[list[CalendarDate], Problems]:
    out: list[CalendarDate] = []
    problems: Problems = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [(1, "not UTF-8 text")]
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#") or (n == 1 and row[0].strip() == "date"):
            continue
        when, name, kind = (cell.strip() for cell in [*row, "", ""][:3])
        if kind not in ("", "holiday", "workday"):
            problems.append((n, f"kind {kind!r}: write holiday or workday (or leave it empty: holiday)"))
            continue
        found = _entry({"date": when, "name": name}, kind or "holiday", n, problems)
        if found is not None:
            out.append(found)
    return out[:MAX_DATES], problems


def dates_from_data(data: object) -> tuple[list[CalendarDate], list[tuple[tuple[str | int, ...], str]]]:
    """The dates of a calendar YAML file already parsed (router/core/rulefile.py reads it with its lines);
    problems with the path of the item they are about."""
    if not isinstance(data, dict) or not set(data) <= {"holidays", "workdays"}:
        return [], [((), "a calendar YAML file holds `holidays:` and `workdays:`, each a list of dates")]
    out: list[CalendarDate] = []
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, kind in (("holidays", "holiday"), ("workdays", "workday")):
        values = data.get(key) or []
        for i, value in enumerate(values if isinstance(values, list) else [values]):
            said: Problems = []
            found = _entry(value, kind, 1, said)
            problems += [((key, i), message) for _, message in said]
            if found is not None:
                out.append(found)
    return out[:MAX_DATES], problems


def _day(value: object) -> date | None:
    return value.date() if isinstance(value, datetime) else value if isinstance(value, date) else None


def _ics(raw: bytes) -> tuple[list[CalendarDate], Problems]:
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except ValueError as e:
        return [], [(1, f"not an iCalendar file: {e}")]
    out: list[CalendarDate] = []
    problems: Problems = []
    for event in cal.walk("VEVENT"):
        name = str(event.get("SUMMARY", ""))[:120]
        start = _day(event.decoded("DTSTART")) if "DTSTART" in event else None
        if start is None:
            problems.append((1, f"event {name or event.get('UID', '?')!r} has no DTSTART date"))
            continue
        end = _day(event.decoded("DTEND")) if "DTEND" in event else None
        length = max(1, (end - start).days) if end is not None else 1
        categories = event.get("CATEGORIES")
        cats = categories if isinstance(categories, list) else [categories] if categories is not None else []
        workday = any("workday" in (str(c).lower() for c in cat.cats) for cat in cats)
        starts = [start]
        if "RRULE" in event:
            text = event["RRULE"].to_ical()
            text = text.decode() if isinstance(text, bytes) else str(text)
            rule = rrulestr(text, dtstart=datetime.combine(start, datetime.min.time()))
            until = datetime.combine(start, datetime.min.time()) + timedelta(days=366 * RRULE_YEARS)
            starts = [d.date() for d in rule.between(datetime.min, until, inc=True)][:MAX_DATES]
        for first in starts:
            for i in range(min(length, 366)):
                out.append(CalendarDate(date=first + timedelta(days=i), name=name,
                                        kind="workday" if workday else "holiday"))
        if len(out) > MAX_DATES:
            problems.append((1, f"more than {MAX_DATES:,} dates: only the first are read"))
            break
    return out[:MAX_DATES], problems
