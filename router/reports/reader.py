"""Reading a report out of the store: the range asked for, the day counters, the raw calls as CSV.

Neither is built at once on the event loop that answers calls: the report's open follow-ups are
read 500 a round trip and the report is put together in a worker thread; the raw calls go out as
CSV 1,000 rows at a time (`calls_csv_chunks`), so a month of calls streams instead of being
built as one string.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import cast

from router.core.decide import CompiledRules
from router.core.tasks import Task
from router.reports.figures import StandardFigures
from router.reports.report import CSV_FIELDS, Row, build, days_between
from router.reports.sofar import today_so_far
from router.reports.tally import day_of
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


OVERDUE_FIELDS = ("created", "owner", "deadline")
"""What the report needs of a follow-up open past its deadline (its staff table counts them per owner)."""
CSV_BATCH = 1000
"""Raw call records read and written per round of the CSV export."""


async def report(store: Store, rules: CompiledRules, days: list[str], now: float) -> Row:
    """One pipelined HGETALL per day, and the follow-ups open past their deadline (three fields each, 500 a
    round trip); put together off the event loop."""
    counters = await store.report_counters(days)
    overdue: list[Task] = [cast(Task, dict(zip(OVERDUE_FIELDS, values, strict=True)))
                           async for batch in store.open_task_fields(OVERDUE_FIELDS, until=now)
                           for _, _, values in batch]
    return await asyncio.to_thread(build, rules, days, counters, overdue, now)


async def so_far_today(store: Store, rules: CompiledRules, now: float) -> StandardFigures:
    """Today's standard figures at `now` (`today_so_far` on today's counters and the members' states now): two
    reads, put together off the event loop. The wallboard's `queues` are per queue name."""
    counters = (await store.report_counters([day_of(now, rules.company_zone)]))[0]
    agents = await store.agents_now()
    return await asyncio.to_thread(today_so_far, counters, agents, rules.rs.report, rules.company_zone, now)


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


async def calls_csv_chunks(store: Store, days: list[str]) -> AsyncIterator[str]:
    """The raw call records of the days, oldest first, as CSV text: the header, then up to CSV_BATCH rows a
    chunk (for a spreadsheet or a BI tool). Caller IDs, names and called numbers are a stranger's text:
    every cell goes through `safe_cell`."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    yield out.getvalue()
    for day in days:
        order = await store.call_order(day)
        for i in range(0, len(order), CSV_BATCH):
            out.seek(0)
            out.truncate()
            for record in await store.calls_by_key(day, [key for _, key in order[i:i + CSV_BATCH]]):
                w.writerow({k: safe_cell(v) for k, v in record.items()})
            yield out.getvalue()


AGENT_CSV_FIELDS = ("day", "time", "agent", "what", "seconds", "queues", "reason")


async def agents_csv_chunks(store: Store, days: list[str]) -> AsyncIterator[str]:
    """The days' agent logs as CSV: the header, then up to CSV_BATCH rows a chunk, in the order written. Pause
    reasons are typed by people: every cell goes through `safe_cell`."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=AGENT_CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    yield out.getvalue()
    for day in days:
        start = 0
        while rows := await store.agent_log(day, start, start + CSV_BATCH - 1):
            out.seek(0)
            out.truncate()
            for row in rows:
                w.writerow({k: safe_cell(v) for k, v in row.items()})
            yield out.getvalue()
            start += CSV_BATCH


async def agents_csv(store: Store, days: list[str]) -> str:
    """The agents' export as one string (`router report --agents-csv`)."""
    return "".join([chunk async for chunk in agents_csv_chunks(store, days)])


async def calls_csv(store: Store, days: list[str]) -> str:
    """The whole export as one string (`router report --csv`)."""
    return "".join([chunk async for chunk in calls_csv_chunks(store, days)])
