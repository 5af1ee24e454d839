"""The national numbering plan: number ranges -> region -> time zone.

Mobile numbers say nothing about where their owner lives to `phonenumbers`; the regulator's
range registry does (for Russia, the DEF/ABC range files). The format read here is that
registry's: `;`-separated, columns `АВС/ DEF;От;До;Емкость;Оператор;Регион[;…]`, UTF-8 or
Windows-1251. An optional `timezone` column, when present, wins over the region table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.state.store import Store

DEFAULT_ZONE = "Europe/Moscow"


@dataclass(slots=True)
class NumberingReport:
    ranges: int = 0
    errors: list[str] = field(default_factory=list)


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


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "cp1251"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def read_ranges(path: str, country: str, report: NumberingReport,
                table: list[tuple[str, str]]) -> Iterator[tuple[int, int, str, str]]:
    with open(path, "rb") as f:
        text = _decode(f.read())
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = [h.strip().lower() for h in next(reader, [])]
    tz_col = header.index("timezone") if "timezone" in header else None
    if len(header) < 6:
        report.errors.append(f"{path}:1: expected the registry header АВС/ DEF;От;До;Емкость;Оператор;Регион")
        return
    for row in reader:
        line = reader.line_num
        if not row or not "".join(row).strip():
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
            report.errors.append(f"{path}:{line}: {e}; range skipped")
            continue
        yield start, end, zone, region.replace("|", "/")


async def import_ranges(store: Store, path: str, country: str = "7", zones: str | None = None) -> NumberingReport:
    report = NumberingReport()
    table = region_table(Path(zones).read_text(encoding="utf-8") if zones else None)
    report.ranges = await store.replace_numbering(read_ranges(path, country, report, table))
    return report
