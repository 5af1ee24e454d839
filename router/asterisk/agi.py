"""FastAGI on asyncio streams: bounded header reading, one typed exception per AGI reply.

Asterisk connects, sends `agi_*: value` lines and a blank line, then answers each command we
send with one reply. Everything read here is bounded in size and time, because the peer may
be anything that can open a TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("router.agi")

MAX_LINE = 8192
"""Longest header or reply line accepted (Asterisk's own buffers are 2048/8192 bytes)."""
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_LINES = 200
MAX_GARBAGE_LINES = 5
HEADER_TIMEOUT = 5.0
SESSION_TIMEOUT = 10.0
"""Once the header is read, the whole conversation must end within this (one timer per call, not per reply)."""
MAX_VALUE_BYTES = 1000
"""A SET VARIABLE line must stay well under the 2048-byte command buffer of older Asterisk."""


class AGIError(Exception):
    """Asterisk answered a command with something other than success."""


class AGIInvalidCommand(AGIError):
    """510: Asterisk does not know the command."""


class AGIDeadChannel(AGIError):
    """511: the caller hung up; the channel takes no more commands that touch it."""


class AGIUsageError(AGIError):
    """520: wrong syntax; the text holds Asterisk's usage block."""


class AGIProtocolError(AGIError):
    """A reply that is not AGI at all, or none in time."""


class BadRequest(Exception):
    """The peer did not send a well-formed AGI header block."""


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    result: str
    data: str


def quote(value: object) -> str:
    """One AGI argument: quoted, `\\` and `"` escaped, line breaks removed (nothing escapes them)."""
    text = str(value)
    if "\n" in text or "\r" in text or "\0" in text:
        text = text.replace("\r", " ").replace("\n", " ").replace("\0", "")
    if len(text) > MAX_VALUE_BYTES // 4 and len(text.encode()) > MAX_VALUE_BYTES:
        text = text.encode()[:MAX_VALUE_BYTES].decode("utf-8", "ignore")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script_of(env: dict[str, str]) -> str:
    """`agi_network_script` carries the query string too: match on the path part only."""
    return env.get("agi_network_script", "").split("?", 1)[0].strip("/")


async def read_env(reader: asyncio.StreamReader) -> dict[str, str]:
    """The `agi_*` header block. The caller bounds the time; the stream's limit bounds the size."""
    try:
        first = await reader.readline()
    except ValueError:
        raise BadRequest(f"header line longer than {MAX_HEADER_BYTES} bytes") from None
    if not first.startswith(b"agi_"):
        if not first:
            raise BadRequest("peer disconnected before sending anything")
        raise BadRequest(f"not AGI: {bytes(first[:60])!r}")
    if first == b"\n" or first.endswith(b"\n\n"):
        rest = b""
    else:
        try:
            rest = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as e:
            got = e.partial.count(b"\n") + 1
            raise BadRequest(f"peer disconnected after {got} header lines, before the blank line") from None
        except asyncio.LimitOverrunError:
            raise BadRequest(f"header block over {MAX_HEADER_BYTES} bytes") from None
    lines = (first + rest).split(b"\n")
    if len(lines) > MAX_HEADER_LINES:
        raise BadRequest(f"header block over {MAX_HEADER_LINES} lines")
    env: dict[str, str] = {}
    garbage = 0
    for line in lines:
        if not line:
            continue
        key, sep, value = line.partition(b": ")
        if not sep:
            key, sep, value = line.partition(b":")
        if not sep or not key.startswith(b"agi_") or len(line) > MAX_LINE or not key.isascii():
            garbage += 1
            if garbage > MAX_GARBAGE_LINES:
                raise BadRequest(f"not AGI: {bytes(line[:60])!r}")
            continue
        env[key.decode("ascii")] = value.decode("utf-8", "replace").rstrip("\r")
    return env


class AGISession:
    """One FastAGI conversation with Asterisk."""

    __slots__ = ("env", "hung_up", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, env: dict[str, str]):
        self.reader = reader
        self.writer = writer
        self.env = env
        self.hung_up = False

    async def _line(self) -> bytes:
        try:
            line = await self.reader.readline()
        except ValueError:
            raise AGIProtocolError(f"reply line longer than {MAX_HEADER_BYTES} bytes") from None
        if not line:
            raise AGIDeadChannel("Asterisk closed the connection")
        return line.rstrip(b"\r\n")

    async def command(self, line: str) -> Reply:
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        while True:
            raw = await self._line()
            if raw == b"HANGUP":
                # sent unprompted, in line with replies, once the caller hangs up
                self.hung_up = True
                continue
            break
        head = raw[:4]
        if head == b"200 ":
            rest = raw[4:].decode("utf-8", "replace")
            result, _, data = rest.partition(" ")
            return Reply(200, result.removeprefix("result="), data.strip().removeprefix("(").removesuffix(")"))
        if head == b"510 ":
            raise AGIInvalidCommand(f"{line.split(' ', 2)[:2]}: {raw.decode('utf-8', 'replace')}")
        if head == b"511 ":
            self.hung_up = True
            raise AGIDeadChannel(raw.decode("utf-8", "replace"))
        if head == b"520-" or head == b"520 ":
            usage = [raw.decode("utf-8", "replace")]
            while not raw.startswith(b"520 ") and len(usage) < 100:
                raw = await self._line()
                usage.append(raw.decode("utf-8", "replace"))
            raise AGIUsageError("\n".join(usage))
        raise AGIProtocolError(f"unexpected reply {bytes(raw[:80])!r}")

    async def set_variable(self, name: str, value: object) -> Reply:
        return await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def verbose(self, message: str, level: int = 3) -> Reply:
        return await self.command(f"VERBOSE {quote(message)} {level}")


Handler = Callable[[AGISession], Awaitable[None]]


class FastAGIServer:
    """Accepts FastAGI connections and hands each to the handler of its script path."""

    def __init__(self, routes: dict[str, Handler], host: str = "127.0.0.1", port: int = 4573,
                 max_connections: int = 2000):
        self.routes = routes
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.active = 0
        self.rejected = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_HEADER_BYTES,
                                                  reuse_address=True, backlog=1024)
        sock = self._server.sockets[0].getsockname()
        self.port = sock[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if peer else "?"
        if self.active >= self.max_connections:
            self.rejected += 1
            log.error("AGI %s: %d sessions open already; connection refused (raise max_connections or add "
                      "routers)", where, self.active)
            writer.close()
            return
        self.active += 1
        try:
            await self._session(reader, writer, where)
        finally:
            self.active -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str) -> None:
        # one timer per call: the header deadline, then moved once to the session deadline
        channel = None
        try:
            async with asyncio.timeout(HEADER_TIMEOUT) as deadline:
                try:
                    env = await read_env(reader)
                except BadRequest as e:
                    log.warning("AGI %s: %s; connection closed", where, e)
                    return
                script = script_of(env)
                handler = self.routes.get(script)
                channel = env.get("agi_channel", "?")
                if handler is None:
                    log.warning("AGI %s channel %r: unknown script %r (served: %s); check the AGI() URL in the "
                                "dialplan", where, channel, script, ", ".join(sorted(self.routes)))
                    return
                deadline.reschedule(asyncio.get_running_loop().time() + SESSION_TIMEOUT)
                await handler(AGISession(reader, writer, env))
        except TimeoutError:
            if channel is None:
                log.warning("AGI %s: header block not finished within %.0f s; connection closed", where,
                            HEADER_TIMEOUT)
            else:
                log.warning("AGI channel %r: Asterisk did not answer our commands within %.0f s; session closed",
                            channel, SESSION_TIMEOUT)
        except AGIDeadChannel as e:
            log.info("AGI channel %r: caller hung up before routing finished (%s)", channel, e)
        except AGIError as e:
            log.warning("AGI channel %r: %s: %s", channel, type(e).__name__, e)
        except (ConnectionError, OSError) as e:
            log.warning("AGI %s channel %r: connection lost (%s)", where, channel, e)
        except Exception:
            log.exception("AGI channel %r: handler failed; the dialplan's own fallback takes the call", channel)
