"""The customer directory: CSV from the CRM (`number,name,abc,manager,timezone,tags[,contract]`) into the store.

A bad row is reported by `file:line` and skipped; the good rows are kept (see csvfile).
Importing the same file twice gives the same directory. `contract` (digits) identifies the
customer when a caller types it in a menu (`menus: … input: {field: contract}`): the store
keeps contract → number beside the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.core.phones import normalise_uncached, why_invalid
from router.directory.csvfile import AUTO, ImportReport, records
from router.state.store import Store

COLUMNS = ("number", "name", "abc", "manager", "timezone", "tags", "contract")
_CONTRACT = re.compile(r"^[0-9]{1,20}$")
_MANAGER = re.compile(r"^[A-Za-z0-9_.\-]{0,64}$")
_TAG = re.compile(r"^[\w.\-]{1,64}$")
MAX_UNKNOWN_MANAGERS = 1000
_read_number = normalise_uncached  # a million unique numbers would only churn the call-time cache


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


def parse_row(row: Mapping[str, str | None], region: str) -> tuple[str, dict[str, str]]:
    """One CSV row -> (E.164 number, stored fields); ValueError says what is wrong."""
    raw = (row.get("number") or "").strip()
    if why := why_invalid(raw, region):
        raise ValueError(why)
    return _read_number(raw, region).key, parse_fields(row)


def parse_fields(row: Mapping[str, str | None]) -> dict[str, str]:
    """A record's fields but its number (name, class, manager, zone, tags); ValueError says what is wrong."""
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
    contract = "".join((row.get("contract") or "").split())
    if contract and not _CONTRACT.match(contract):
        raise ValueError(f"contract {contract[:40]!r}: the digits a caller types, 1 to 20 of them")
    if contract:
        fields["contract"] = contract
    return fields


def read_csv(path: str, region: str, report: ImportReport, encoding: str = AUTO,
             managers: frozenset[str] | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """Good rows as (number, fields); every other row is a problem in `report`.

    With `managers` (the ids the rules define) a manager the rules do not know is reported at
    the first line naming it: the row is kept, but calls would skip that manager.
    """
    unknown_managers: set[str] = set()
    for line, row in records(path, report, COLUMNS, ("number",), encoding):
        try:
            number, fields = parse_row(row, region)
        except ValueError as e:
            report.skip(line, str(e))
            continue
        manager = fields.get("manager")
        if (managers is not None and manager and manager not in managers and manager not in unknown_managers
                and len(unknown_managers) < MAX_UNKNOWN_MANAGERS):
            unknown_managers.add(manager)
            known = ", ".join(sorted(managers)[:20]) or "none"
            report.warn(line, f"manager {manager!r} is not in the rules (known: {known}); rows kept, but calls "
                              f"skip a manager the rules do not define (reported once)")
        yield number, fields


async def import_csv(store: Store, path: str, region: str = "RU", batch: int = 2000, encoding: str = AUTO,
                     managers: frozenset[str] | None = None, report: ImportReport | None = None) -> ImportReport:
    """Write the file's good rows in batches; `report.imported` counts what is written so far."""
    report = report if report is not None else ImportReport(path)
    chunk: list[tuple[str, dict[str, str]]] = []
    for record in read_csv(path, region, report, encoding, managers):
        chunk.append(record)
        if len(chunk) >= batch:
            report.imported += await store.put_customers(chunk)
            chunk = []
    if chunk:
        report.imported += await store.put_customers(chunk)
    return report
