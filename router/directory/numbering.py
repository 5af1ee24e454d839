"""The national numbering plan: number ranges -> region -> time zone.

Mobile numbers say nothing about where their owner lives to `phonenumbers`; the regulator's
range registry does (for Russia, the DEF/ABC range files). The format read here is that
registry's: `;`-separated, columns `АВС/ DEF;От;До;Емкость;Оператор;Регион[;…]`, UTF-8 or
Windows-1251. An optional `timezone` column, when present, wins over the region table.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.directory.csvfile import AUTO, ImportReport, rows
from router.state.store import Store

DEFAULT_ZONE = "Europe/Moscow"


def region_table(text: str | None = None) -> list[tuple[str, str]]:
    if text is None:
        text = resources.files("router").joinpath("data/ru_regions.csv").read_text(encoding="utf-8")
    rows = [line.split(";") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(a.strip(), b.strip()) for a, b in rows[1:]]


def zone_for_region(region: str, table: list[tuple[str, str]]) -> str:
    for stem, zone in table:
        if stem in region:
            return zone
    return DEFAULT_ZONE


def read_ranges(path: str, country: str, report: ImportReport, table: list[tuple[str, str]],
                encoding: str = AUTO) -> Iterator[tuple[int, int, str, str]]:
    records = rows(path, report, ";", encoding)
    first = next(records, None)
    header = [h.strip().lower() for h in first[1]] if first else []
    tz_col = header.index("timezone") if "timezone" in header else None
    if len(header) < 6:
        report.skip(first[0] if first else 1, "expected the registry header АВС/ DEF;От;До;Емкость;Оператор;Регион")
        return
    for line, row in records:
        if not "".join(row).strip():
            continue
        try:
            code, lo, hi = row[0].strip(), row[1].strip(), row[2].strip()
            if not (code.isdigit() and lo.isdigit() and hi.isdigit()):
                raise ValueError("code, От and До must be digits")
            width = max(len(lo), len(hi))
            start, end = int(country + code + lo.zfill(width)), int(country + code + hi.zfill(width))
            if end < start:
                raise ValueError(f"До {hi} is below От {lo}")
            region = row[5].strip() if len(row) > 5 else ""
            zone = row[tz_col].strip() if tz_col is not None and len(row) > tz_col else ""
            zone = zone or zone_for_region(region, table)
            ZoneInfo(zone)
        except (ValueError, IndexError, ZoneInfoNotFoundError) as e:
            report.skip(line, str(e))
            continue
        yield start, end, zone, region.replace("|", "/")


async def import_ranges(store: Store, path: str, country: str = "7", zones: str | None = None,
                        encoding: str = AUTO, report: ImportReport | None = None) -> ImportReport:
    """Swap the file's good ranges in as the whole plan; `report.imported` counts them once swapped in."""
    report = report if report is not None else ImportReport(path)
    table = region_table(Path(zones).read_text(encoding="utf-8") if zones else None)
    report.imported = await store.replace_numbering(read_ranges(path, country, report, table, encoding))
    return report
