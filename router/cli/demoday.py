"""The demo's day as a real one: the lines customers and prospects call, and the company's midnight said aloud."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from router.core.decide import CompiledRules

SALES_LINE, SUPPORT_LINE = "88006008208", "88006008200"
"""The reference rules' lines (`types_by_dnid`): the sales line types calls as new connections."""


def lines(rules: CompiledRules) -> tuple[str, str]:
    """(sales line, support line) of the rules' `types_by_dnid`: the number typed as a prospect's call (a new
    connection), and one typed otherwise; the reference rules' numbers when the rules type no line so."""
    rs = rules.rs
    prospect = [n for n, t in rs.types_by_dnid.items() if rs.types.get(t) is not None and rs.types[t].prospect]
    other = [n for n, t in rs.types_by_dnid.items() if n not in prospect]
    return (prospect[0] if prospect else SALES_LINE), (other[0] if other else SUPPORT_LINE)


def read_customers(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {line.split(",", 1)[0] for line in f if line.startswith("+")}


async def say_the_day(clock: Callable[[], float], tz: ZoneInfo, say: Callable[[str], None]) -> None:
    """When the simulated clock passes the company's midnight: which day the report shows now, and where the
    day before is (the report is per company day)."""
    day = datetime.fromtimestamp(clock(), tz).date()
    while True:
        await asyncio.sleep(0.5)
        now = datetime.fromtimestamp(clock(), tz).date()
        if now != day:
            say(f"— midnight in {tz.key}: today's report (/report) now shows {now.isoformat()}; "
                f"the calls before midnight are in /report?day={day.isoformat()}")
            day = now
