"""Rows of a CSV file that may be broken anywhere, and the report of an import made from them.

Files from a CRM or a regulator arrive in Windows-1251 or UTF-8, with a stray quote, a 100 KB
cell or bytes from another encoding. None of that may stop an import half-way: each bad row is
one `file:line` problem and the rows around it are kept. Reading is line by line in bytes, so
memory stays bounded by one line whatever the file holds; problems are passed on as they come
and only the first few are kept.
"""

from __future__ import annotations

import codecs
import csv
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

MAX_LINE = 64 * 1024
"""Bytes in one line: a directory row is a few hundred; anything longer is skipped unread."""
MAX_RECORD_LINES = 20
"""Lines a quoted cell may span before its quote counts as unterminated."""
AUTO = "auto"
_BOM = codecs.BOM_UTF8


@dataclass(slots=True)
class ImportReport:
    """What an import wrote and what it skipped.

    The first `keep` messages are kept in `errors` and passed to `echo` as they come; the rest
    are only counted, so a file of a million bad rows costs no memory and no flood.
    """

    path: str
    imported: int = 0
    skipped: int = 0
    warned: int = 0
    encoding: str = ""
    errors: list[str] = field(default_factory=list)
    keep: int = 100
    echo: Callable[[str], None] | None = None

    @property
    def problems(self) -> int:
        return self.skipped + self.warned

    def skip(self, line: int, why: str) -> None:
        self.skipped += 1
        if len(self.errors) < self.keep:
            self._say(f"{self.path}:{line}: {why}; row skipped")

    def warn(self, line: int, what: str) -> None:
        self.warned += 1
        if len(self.errors) < self.keep:
            self._say(f"{self.path}:{line}: {what}")

    def _say(self, text: str) -> None:
        self.errors.append(text)
        if self.echo is not None:
            self.echo(text)


def encoding_name(name: str) -> str:
    """A Python codec name for `--encoding` (utf-8, cp1251, windows-1251, …); ValueError if unknown."""
    if name == AUTO:
        return AUTO
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r} (use utf-8 or windows-1251)") from None


def _physical_lines(f) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each line; (line number, None) for one over MAX_LINE, skipped without holding it."""
    n = 0
    while True:
        raw = f.readline(MAX_LINE + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(MAX_LINE)
            yield n, None
            continue
        yield n, raw


class _Decoder:
    """Bytes to text: as told, or detected at the first line that is not ASCII (UTF-8, else Windows-1251)."""

    def __init__(self, encoding: str):
        self.encoding = "" if encoding == AUTO else encoding

    def __call__(self, raw: bytes) -> str:
        if not self.encoding:
            if raw.isascii():
                return raw.decode("ascii")
            try:
                text = raw.decode("utf-8")
                self.encoding = "utf-8"
                return text
            except UnicodeDecodeError:
                self.encoding = "cp1251"
        return raw.decode(self.encoding)


def _lines(path: str, decode: _Decoder) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text, "") for each line, or (line number, None, problem) for one that cannot be read."""
    with open(path, "rb") as f:
        for n, raw in _physical_lines(f):
            if raw is None:
                yield n, None, f"line longer than {MAX_LINE // 1024} KB"
                continue
            if n == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
                decode.encoding = decode.encoding or "utf-8"
            try:
                yield n, decode(raw), ""
            except UnicodeDecodeError as e:
                yield n, None, (f"bytes that are not {decode.encoding} ({raw[e.start:e.start + 4]!r} at byte "
                                f"{e.start + 1}; give --encoding if the whole file is in another one)")


def _parse(text: str, delimiter: str) -> list[str] | None:
    try:
        parsed = list(csv.reader([text], delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return parsed[0] if len(parsed) == 1 else None


def rows(path: str, report: ImportReport, delimiter: str = ",",
         encoding: str = AUTO) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) for each readable record, the header first; blank lines are passed over.

    A quoted cell may run over several lines when the record it closes has as many fields as the
    header; otherwise its first line is an unterminated quote and the lines after it are read afresh.
    """
    decode = _Decoder(encoding)
    lines = _lines(path, decode)
    back: deque[tuple[int, str | None, str]] = deque()
    width = 0
    while (item := back.popleft() if back else next(lines, None)) is not None:
        start, text, problem = item
        if text is None:
            report.skip(start, problem)
            continue
        if text.count('"') % 2:
            taken: list[tuple[int, str | None, str]] = []
            joined = text
            while (width and joined.count('"') % 2 and len(taken) < MAX_RECORD_LINES and len(joined) <= MAX_LINE
                   and (more := back.popleft() if back else next(lines, None)) is not None):
                taken.append(more)
                if more[1] is None:
                    break
                joined += more[1]
            fields = _parse(joined, delimiter) if not joined.count('"') % 2 else None
            if fields is None or len(fields) != width:
                back.extendleft(reversed(taken))
                report.skip(start, "unterminated quote")
                continue
        elif not text.strip():
            continue
        elif '"' not in text:
            fields = text.rstrip("\r\n").split(delimiter)
        else:
            fields = _parse(text, delimiter)
            if fields is None:
                report.skip(start, "broken quoting (a quote inside a cell must be doubled: \"\")")
                continue
        width = width or len(fields)
        report.encoding = decode.encoding or "ascii"
        yield start, fields
    report.encoding = decode.encoding or "ascii"


def records(path: str, report: ImportReport, columns: tuple[str, ...], required: tuple[str, ...],
            encoding: str = AUTO) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, {column: value}) for each row with as many fields as the header; the header must name `required`."""
    found = rows(path, report, ",", encoding)
    first = next(found, None)
    header = [h.strip().lower() for h in first[1]] if first else []
    if first is None or not all(c in header for c in required):
        report.skip(first[0] if first else 1, f"the header must name the columns: {','.join(columns)}")
        return
    unknown = [h for h in header if h not in columns]
    if unknown:
        report.warn(first[0], f"unknown columns {', '.join(unknown)} are ignored")
    for line, values in found:
        if len(values) != len(header):
            report.skip(line, f"{len(values)} fields where the header has {len(header)} ({','.join(header)})")
            continue
        yield line, dict(zip(header, values, strict=True))
