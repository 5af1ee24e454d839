"""Every ROUTE_* variable in one AGI command: `EXEC MSet "NAME=value,NAME=value,…"`.

A value passes two parsers on its way to the channel (Asterisk 22, read in its source):
1. res_agi's parse_args() splits the command line: `"` groups, `\\` makes the next character
   literal. The whole MSet argument is one quoted AGI argument (EXEC hands only argv[2] to the
   application). Nothing escapes a line break: CR/LF end the command, so they become spaces.
2. MSet splits its argument with AST_STANDARD_APP_ARGS (`,` separates; `"` toggles quoting and
   is removed; `\\` is removed and makes the next character literal; `(` `)` `[` `]` nest and
   hide commas), then each pair at its first `=`; the value after it is taken as it stands.
So each value gets a backslash before `\\ " , ( ) [ ]` for MSet, then `\\` and `"` are escaped
again for AGI. A line stays under 2 KB (older Asterisk reads commands into 2048 bytes) and a
command under 98 pairs (MSet parses up to 99, leaving the last one unparsed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from router.asterisk import variables as V

MAX_LINE = 2000
"""Bytes per command line including the newline; Asterisk before 20.16/21.11/22.6 reads 2048."""
MAX_PAIRS = 98
MAX_VALUE_BYTES = 1000
_APP_SPECIAL = frozenset('\\",()[]')
_PREFIX = 'EXEC MSet "'
ANSWER_START = _PREFIX + V.DECISION + "="
"""How the router's answer to a call begins (the decision is always its first pair). Asterisk reports
every AGI command it ran as an `AGIExecEnd` event with the channel and the command: the one that
starts so names the caller's leg and its decision, with no dialplan step to say it."""


def clean(value: object) -> str:
    """The text a value can have on a channel: no line breaks or NULs, at most 1000 bytes."""
    text = str(value)
    if "\n" in text or "\r" in text or "\0" in text:
        text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\0", "")
    if len(text) > MAX_VALUE_BYTES // 4 and len(text.encode()) > MAX_VALUE_BYTES:
        text = text.encode()[:MAX_VALUE_BYTES].decode("utf-8", "ignore")
    return text


def app_escape(text: str) -> str:
    """One argument of a dialplan application as AST_STANDARD_APP_ARGS will read it back."""
    if not _APP_SPECIAL.intersection(text):
        return text
    return "".join("\\" + ch if ch in _APP_SPECIAL else ch for ch in text)


def agi_escape(text: str) -> str:
    """The inside of a quoted AGI argument as parse_args() will read it back."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


_PLAIN = re.compile(r'[^\\",()\[\]\r\n\0]*')
"""A value that needs no escape for either parser (most values: ids, names of rules and queues, numbers)."""


def _item(name: str, value: object) -> str:
    if isinstance(value, int):
        return f"{name}={value}"
    if isinstance(value, str) and len(value) <= MAX_VALUE_BYTES // 4 and _PLAIN.fullmatch(value):
        return f"{name}={value}"
    text = clean(value)
    item = agi_escape(f"{name}={app_escape(text)}")
    while len(item.encode()) > MAX_LINE - len(_PREFIX) - 2:  # only a value full of escapes gets here
        text = text[: len(text) * 3 // 4]
        item = agi_escape(f"{name}={app_escape(text)}")
    return item


def commands(pairs: Iterable[tuple[str, object]]) -> list[str]:
    """The fewest `EXEC MSet` lines (without newline) that set every pair, in order."""
    items = [_item(name, value) for name, value in pairs]
    if 0 < len(items) <= MAX_PAIRS:  # a call's answer: one line, its newline included under 2 KB
        whole = _PREFIX + ",".join(items) + '"'
        if len(whole) * 4 < MAX_LINE or len(whole.encode()) < MAX_LINE:
            return [whole]
    out: list[str] = []
    line = _PREFIX
    size = len(_PREFIX) + 2  # closing quote and newline
    count = 0
    for item in items:
        cost = len(item.encode()) + (1 if count else 0)
        if count and (size + cost > MAX_LINE or count >= MAX_PAIRS):
            out.append(line + '"')
            line, size, count = _PREFIX, len(_PREFIX) + 2, 0
            cost -= 1
        line += ("," if count else "") + item
        size += cost
        count += 1
    if count:
        out.append(line + '"')
    return out
