"""The company directory: a client company's class, manager, tags and the numbers of its branches.

A branch calls from a number nobody imported as a customer; when that number falls in one of
its company's numbers, prefixes or ranges, the caller inherits the company's class and manager.
CSV columns `company,name,abc,manager,tags,numbers`; `numbers` lists, separated by `;`, exact
numbers (`+74951234567`, `8 495 123-45-67`), prefixes (`+7495123*`) and ranges
(`+74951230000..+74951239999`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from router.core.phones import SPAN_DIGITS, normalise_uncached, why_invalid
from router.directory.csvfile import AUTO, ImportReport, records
from router.directory.customers import parse_fields
from router.state.store import Store

COLUMNS = ("company", "name", "abc", "manager", "tags", "numbers")
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_PREFIX = re.compile(r"^\+(\d{1,14})\*$")
_read_number = normalise_uncached




def _e164_digits(text: str, region: str) -> str:
    if why := why_invalid(text.strip(), region):
        raise ValueError(why)
    return _read_number(text.strip(), region).key[1:]


def span(spec: str, region: str) -> tuple[int, int]:
    """One entry of `numbers` -> (low, high), numbers right-padded to SPAN_DIGITS digits."""
    spec = spec.strip()
    m = _PREFIX.match(spec)
    if m:
        digits = m.group(1)
        return int(digits.ljust(SPAN_DIGITS, "0")), int(digits.ljust(SPAN_DIGITS, "9"))
    if ".." in spec:
        a, b = spec.split("..", 1)
        lo, hi = _e164_digits(a, region), _e164_digits(b, region)
        if len(lo) != len(hi) or int(lo) > int(hi):
            raise ValueError(f"range {spec[:60]!r}: both ends need the same length, the lower one first")
        return int(lo.ljust(SPAN_DIGITS, "0")), int(hi.ljust(SPAN_DIGITS, "0"))
    if spec.endswith("*"):
        raise ValueError(f"prefix {spec[:40]!r} must be E.164 digits after a +, like +7495123*")
    digits = _e164_digits(spec, region)
    value = int(digits.ljust(SPAN_DIGITS, "0"))
    return value, value


def parse_company(row: dict, region: str) -> tuple[str, dict[str, str], list[tuple[int, int]]]:
    """A CSV row or an API body -> (company id, stored fields, spans); ValueError says what is wrong."""
    cid = str(row.get("company") or "").strip()
    if not _ID.match(cid):
        raise ValueError(f"company {cid[:40]!r}: an id of letters, digits, _.- (like acme or acme-retail)")
    # class, manager and tags follow the customer directory's rules exactly
    fields = parse_fields({k: row.get(k) for k in ("name", "abc", "manager", "tags")})
    raw = row.get("numbers") or ""
    specs = raw if isinstance(raw, list) else str(raw).split(";")
    spans = [span(str(s), region) for s in specs if str(s).strip()]
    if not spans:
        raise ValueError(f"company {cid!r} lists no numbers: give numbers, prefixes (+7495123*) or ranges (a..b)")
    fields["numbers"] = ";".join(str(s).strip() for s in specs if str(s).strip())
    return cid, fields, spans


def read_csv(path: str, region: str, report: ImportReport,
             encoding: str = AUTO) -> Iterator[tuple[str, dict[str, str], list]]:
    for line, row in records(path, report, COLUMNS, ("company", "numbers"), encoding):
        try:
            yield parse_company(row, region)
        except ValueError as e:
            report.skip(line, str(e))


async def import_csv(store: Store, path: str, region: str = "RU", encoding: str = AUTO,
                     report: ImportReport | None = None) -> ImportReport:
    report = report if report is not None else ImportReport(path)
    for cid, fields, spans in read_csv(path, region, report, encoding):
        await store.put_company(cid, fields, spans)
        report.imported += 1
    return report
