"""Asterisk's side of a FastAGI call, as res_agi speaks it (checked against real recordings).

Used by `router demo` and the benchmark to place calls, and by the test suite's simulator.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

USAGE = {
    "SET VARIABLE": ["520-Invalid command syntax.  Proper usage follows:", "Sets a variable to the current channel.",
                     "520 End of proper usage."],
    "GET VARIABLE": ["520-Invalid command syntax.  Proper usage follows:",
                     "Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns "
                     "<literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the "
                     "variable in parentheses.", "Example return code: 200 result=1 (testvariable)",
                     "520 End of proper usage."],
}
APPLICATIONS = frozenset({"noop", "set", "mset", "verbose", "log", "dial", "queue", "goto", "gosub", "hangup"})
DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
ALLOWED_WHEN_DEAD = ("GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "VERBOSE", "DATABASE")


def headers(script: str, uid: int, number: str, name: str = "", dnid: str = "unknown", extension: str = "s",
            args: tuple[str, ...] = (), host: str = "127.0.0.1:4573", version: str = "22.10.1") -> bytes:
    """The header block in res_agi's order (see setup_env() in res_agi.c)."""
    pairs = [
        ("agi_network", "yes"), ("agi_network_script", script), ("agi_request", f"agi://{host}/{script}"),
        ("agi_channel", f"PJSIP/trunk-{uid:08x}"), ("agi_language", "en"), ("agi_type", "PJSIP"),
        ("agi_uniqueid", f"1795337767.{uid}"), ("agi_version", version),
        ("agi_callerid", number or "unknown"), ("agi_calleridname", name or "unknown"),
        ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"), ("agi_callingtns", "0"),
        ("agi_dnid", dnid), ("agi_rdnis", "unknown"), ("agi_context", "from-pstn"),
        ("agi_extension", extension), ("agi_priority", "2"), ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""), ("agi_threadid", str(139651673315008 + uid)),
    ]
    pairs += [(f"agi_arg_{i}", a) for i, a in enumerate(args, 1)]
    return ("".join(f"{k}: {v}\n" for k, v in pairs) + "\n").encode()


def parse_args(line: str) -> list[str]:
    """Split a command line as res_agi's parse_args() does: `"` groups, `\\` escapes the next character."""
    out: list[str] = []
    cur: list[str] = []
    quoted = escaped = started = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
            started = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                out.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        out.append("".join(cur))
    return out


def separate_args(data: str, delim: str = ",", limit: int = 99) -> list[str]:
    """main/app.c __ast_app_separate_args() with remove_chars (AST_STANDARD_APP_ARGS), for `limit` slots."""
    buf = list(data)
    out: list[str] = []
    i = 0
    paren = bracket = 0
    quote = False
    was_delim = -1
    start = 0
    while i < len(buf) and len(out) < limit - 1:
        start = i
        while i < len(buf):
            ch = buf[i]
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = max(paren - 1, 0)
            elif ch == "[":
                bracket += 1
            elif ch == "]":
                bracket = max(bracket - 1, 0)
            elif ch == '"' and delim != '"':
                quote = not quote
                del buf[i]
                continue
            elif ch == "\\":
                del buf[i]
            elif ch == delim and not paren and not quote and not bracket:
                out.append("".join(buf[start:i]))
                was_delim = i
                i += 1
                break
            i += 1
        else:
            out.append("".join(buf[start:i]))
    if i < len(buf) or (i > 0 and was_delim == i - 1):
        out.append("".join(buf[i:]))
    return out


def setvar(variables: dict[str, str], name: str, value: str) -> None:
    """main/pbx_variables.c pbx_builtin_setvar_helper(): `NAME(args)` writes a function (kept under its
    whole name here); one or two leading `_` only make a variable inheritable, it is read without them."""
    if not name.endswith(")"):
        name = name[2:] if name.startswith("__") else name[1:] if name.startswith("_") else name
    variables[name] = value


def mset(variables: dict[str, str], data: str) -> None:
    """main/pbx_variables.c pbx_builtin_setvar_multiple(): the application MSet."""
    for pair in separate_args(data, ",", 99):
        parts = separate_args(pair, "=", 2)
        if len(parts) == 2:
            setvar(variables, parts[0], parts[1])


class Variables(dict):
    """A channel's variables: one never set reads as empty, as `${NAME}` does in the dialplan."""

    def __missing__(self, name: str) -> str:
        return ""


@dataclass
class Channel:
    """The channel's side: variables set on it, and whether the caller has hung up."""

    variables: dict[str, str] = field(default_factory=Variables)
    commands: list[str] = field(default_factory=list)
    hung_up: bool = False

    def reply(self, line: str) -> list[str]:
        self.commands.append(line)
        argv = parse_args(line)
        words = [a.upper() for a in argv[:3]]
        name = " ".join(words[:2])
        if self.hung_up and not name.startswith(ALLOWED_WHEN_DEAD) and words[:1] != ["VERBOSE"]:
            return [DEAD_CHANNEL]
        if name == "SET VARIABLE":
            if len(argv) < 4:
                return USAGE["SET VARIABLE"]
            setvar(self.variables, argv[2], argv[3])
            return ["200 result=1"]
        if name == "GET VARIABLE":
            if len(argv) < 3:
                return USAGE["GET VARIABLE"]
            v = self.variables.get(argv[2])
            return ["200 result=0"] if v is None else [f"200 result=1 ({v})"]
        if words[:1] == ["EXEC"] and len(argv) >= 2:
            app = argv[1].lower()
            if app == "set" and len(argv) >= 3 and "=" in argv[2]:
                key, _, value = argv[2].partition("=")
                setvar(self.variables, key, value)
            elif app == "mset" and len(argv) >= 3:
                mset(self.variables, argv[2])
            return ["200 result=0"] if app in APPLICATIONS else ["200 result=-2"]
        if words[:1] == ["VERBOSE"]:
            return ["200 result=1"]
        if words[:1] == ["ANSWER"]:
            return ["200 result=0"]
        if name == "CHANNEL STATUS":
            return ["200 result=6"]
        if words[:1] == ["HANGUP"]:
            self.hung_up = True
            return ["200 result=1"]
        return ["510 Invalid or unknown command"]


@dataclass
class CallResult:
    variables: dict[str, str]
    commands: list[str]
    seconds: float

    def chain(self) -> list[tuple[str, str, str]]:
        v = self.variables
        n = int(v.get("ROUTE_COUNT", "0") or 0)
        return [(v.get(f"ROUTE_{i}_TYPE", ""), v.get(f"ROUTE_{i}_DEST", ""), v.get(f"ROUTE_{i}_TIMEOUT", ""))
                for i in range(1, n + 1)]


async def call(port: int, number: str, name: str = "", uid: int = 1, script: str = "route",
               dnid: str = "unknown", extension: str = "s", host: str = "127.0.0.1", timeout: float = 5.0,
               hangup_after: int | None = None, args: tuple[str, ...] = ()) -> CallResult:
    """Place one call; with `hangup_after=N` the caller hangs up after N commands, as in agi_005."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    chan = Channel()
    try:
        writer.write(headers(script, uid, number, name, dnid, extension, args=args, host=f"{host}:{port}"))
        async with asyncio.timeout(timeout):
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line.strip():
                    continue
                out = chan.reply(line)
                if hangup_after is not None and len(chan.commands) == hangup_after and not chan.hung_up:
                    chan.hung_up = True
                    out = [*out, "HANGUP"]
                writer.write("".join(f"{o}\n" for o in out).encode())
    finally:
        writer.close()
    return CallResult(chan.variables, chan.commands, time.perf_counter() - t0)
