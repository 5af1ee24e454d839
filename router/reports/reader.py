"""Reading a report out of the store: the range asked for, the day counters, the raw calls as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

from router.core.decide import CompiledRules
from router.reports.report import CSV_FIELDS, Row, build, days_between
from router.state.store import Store


def parse_range(day: str | None, first: str | None, last: str | None, rules: CompiledRules,
                now: float) -> list[str]:
    """`day`, or `first`..`last` (either may be left out: one day), else today in the company's zone."""
    try:
        if day:
            if first or last:
                raise ValueError("give either a day or a range (from/to), not both")
            d = date.fromisoformat(day)
            return [d.isoformat()]
        if first or last:
            return days_between(date.fromisoformat(first or last or ""), date.fromisoformat(last or first or ""))
    except ValueError as e:
        if "Invalid isoformat" in str(e):
            raise ValueError(f"{e.args[0].split(': ')[-1]}: write days as YYYY-MM-DD") from None
        raise
    return [datetime.fromtimestamp(now, rules.company_zone).date().isoformat()]


async def report(store: Store, rules: CompiledRules, days: list[str], now: float) -> Row:
    """Two reads whatever the traffic: one pipelined HGETALL per day, and the open follow-ups."""
    counters = await store.report_counters(days)
    tasks = await store.tasks("open", limit=100_000)
    return build(rules, days, counters, tasks, now)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection)."""
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def safe_cell(value: object) -> object:
    """A CSV cell no spreadsheet runs: text starting like a formula gets a leading `'` (OWASP's rule).
    A plain number (`+79161234500`, `-3`, `12.5`) is left as it is: digits hide no formula, and an
    E.164 number keeps its `+` for whoever matches it against the CRM."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


async def calls_csv(store: Store, days: list[str]) -> str:
    """The raw call records of the days, oldest first, one CSV row each (for a spreadsheet or a BI tool).
    Caller IDs, names and called numbers are a stranger's text: every cell goes through `safe_cell`."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for day in days:
        for record in await store.calls_of(day):
            w.writerow({k: safe_cell(v) for k, v in record.items()})
    return out.getvalue()
