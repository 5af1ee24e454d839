"""The customer directory: CSV from the CRM (`number,name,abc,manager,timezone,tags`) into the store.

A bad row is reported by `file:line` and skipped; the good rows are kept. Importing the same
file twice gives the same directory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.core.phones import normalise
from router.state.store import Store

COLUMNS = ("number", "name", "abc", "manager", "timezone", "tags")
_MANAGER = re.compile(r"^[A-Za-z0-9_.\-]{0,64}$")
_TAG = re.compile(r"^[\w.\-]{1,64}$")
_read_number = normalise.__wrapped__  # a million unique numbers would only churn the call-time cache


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    errors: list[str] = field(default_factory=list)


_zones_ok: dict[str, bool] = {}


def _zone_ok(name: str) -> bool:
    ok = _zones_ok.get(name)
    if ok is None:
        try:
            ZoneInfo(name)
            ok = True
        except (ZoneInfoNotFoundError, ValueError):
            ok = False
        _zones_ok[name] = ok
    return ok


def parse_row(row: dict[str, str | None], region: str) -> tuple[str, dict[str, str]]:
    """One CSV row -> (E.164 number, stored fields); ValueError says what is wrong."""
    raw = (row.get("number") or "").strip()
    number = _read_number(raw, region)
    if not number.e164:
        raise ValueError(f"number {raw[:40]!r} is not a phone number (write +79031234567 or 8 903 123-45-67)")
    fields: dict[str, str] = {}
    name = (row.get("name") or "").strip()
    if name:
        fields["name"] = name[:200]
    abc = (row.get("abc") or "").strip().upper()
    if abc not in ("", "A", "B", "C"):
        raise ValueError(f"abc {abc[:10]!r} must be A, B, C or empty")
    if abc:
        fields["abc"] = abc
    manager = (row.get("manager") or "").strip()
    if not _MANAGER.match(manager):
        raise ValueError(f"manager {manager[:40]!r}: use the manager's id from the rule file (letters, digits, _.-)")
    if manager:
        fields["manager"] = manager
    tz = (row.get("timezone") or "").strip()
    if tz and not _zone_ok(tz):
        raise ValueError(f"timezone {tz[:40]!r} is not an IANA zone (write Asia/Vladivostok)")
    if tz:
        fields["timezone"] = tz
    tags = [t.strip() for t in (row.get("tags") or "").split(";") if t.strip()]
    for t in tags:
        if not _TAG.match(t):
            raise ValueError(f"tag {t[:40]!r}: tags are words (letters, digits, _.-) separated by ';'")
    if tags:
        fields["tags"] = ";".join(dict.fromkeys(tags))
    return number.key, fields


def read_csv(path: str, region: str, report: ImportReport) -> Iterator[tuple[str, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if "number" not in header:
            report.errors.append(f"{path}:1: the header must name the columns, starting with "
                                 f"{','.join(COLUMNS)}")
            return
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            report.errors.append(f"{path}:1: unknown columns {', '.join(unknown)} are ignored")
        reader.fieldnames = header
        for row in reader:
            if None in row:
                report.errors.append(f"{path}:{reader.line_num}: more fields than columns; row skipped")
                continue
            try:
                yield parse_row(row, region)
            except ValueError as e:
                report.errors.append(f"{path}:{reader.line_num}: {e}; row skipped")


async def import_csv(store: Store, path: str, region: str = "RU", batch: int = 2000) -> ImportReport:
    report = ImportReport()
    chunk: list[tuple[str, dict[str, str]]] = []
    for record in read_csv(path, region, report):
        chunk.append(record)
        if len(chunk) >= batch:
            report.imported += await store.put_customers(chunk)
            chunk = []
    if chunk:
        report.imported += await store.put_customers(chunk)
    return report
