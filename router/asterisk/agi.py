"""FastAGI on the event loop's own sockets: bounded header reading, one typed exception per AGI reply.

Asterisk connects, sends `agi_*: value` lines and a blank line, then answers each command we
send with one reply. Everything read here is bounded in size and time, because the peer may
be anything that can open a TCP connection.

A session is a few hundred bytes each way, so a connection is read and written with the socket
calls themselves rather than an asyncio transport and streams (`AGISocket`): the header, which
Asterisk writes as it connects, is usually in by the time the session starts and is read without
the selector ever watching the socket, and the answer goes out as one send() and a shutdown().
On a real Asterisk that took a sixth off the router's CPU per call (bench/README.md).

This module is long because the FastAGI wire is one piece: the socket reads, the session's
limits and the server's admission of connections share the same few objects on the call's path,
and splitting them would put a module boundary (and a lookup) between each read and its limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import re
import socket
import struct
import termios
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from router.asterisk import admission
from router.asterisk.admission import Admission
from router.floodlog import FloodLog

log = logging.getLogger("router.agi")

MAX_LINE = 8192
"""Longest header or reply line accepted (Asterisk's own buffers are 2048/8192 bytes)."""
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_LINES = 200
MAX_GARBAGE_LINES = 5
IDLE_TIMEOUT = 2.0
"""A new connection must send its first header line within this (Asterisk sends it on connect)."""
HEADER_TIMEOUT = 5.0
"""The whole header block must arrive within this from the connect."""
SESSION_TIMEOUT = 10.0
"""Once the header is read, the whole conversation must end within this (one timer per call, not per reply)."""
MAX_VALUE_BYTES = 1000
"""A SET VARIABLE line must stay well under the 2048-byte command buffer of older Asterisk."""
MAX_HANGUPS = 3
"""Asterisk sends one unprompted `HANGUP` per hang-up; a stream of them is not Asterisk."""
MAX_SESSION_LINES = 1000
"""Lines a whole session may send us (ours needs about 20): buffered lines are read without
yielding to the event loop, so an unbounded stream would hold the loop for every other call."""
MAX_CONNECTIONS = 2000
READ_CHUNK = 65536
ACCEPT_BATCH = 64
"""Connections taken from the listen queue per wake-up, so that a burst cannot hold the loop."""
ACCEPT_PAUSE = 1.0
"""After accept() fails for want of file descriptors or memory, accepting waits this long (as asyncio does)."""
OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
BAD_HEADER = "connections closed for a bad header block"
HEADER_LATE = "connections closed for an unfinished header block"
ABUSE = "sessions cut for protocol abuse"
ACCEPT_FAILED = "accept() failures: out of file descriptors or memory"
BACKLOG = 4096
LINGER = 1.0
"""How long an ended session's last bytes may wait for a peer that is slow to take them."""
RETRY_ACCEPT = tuple(getattr(errno, name) for name in (
    "ECONNABORTED", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET", "EHOSTUNREACH", "EOPNOTSUPP",
    "ENETUNREACH") if hasattr(errno, name))
"""accept() errors that concern one connection, not the listener: accept(2) says to take the next."""


NAME = "agi_calleridname"
FIRST_WINS = frozenset({"agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_language", "agi_type",
                        "agi_uniqueid", "agi_version", "agi_callerid", NAME})
"""Keys res_agi's setup_env() writes up to the caller's name, the one raw text a caller controls:
a line break in the name can forge a key, but only after these (so the first copy is Asterisk's)
and before the rest (so for those the last copy is)."""


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


class AGISocket:
    """One accepted connection, read and written with socket calls on the event loop's thread.

    Reads are buffered, and the selector watches the socket only while a read waits for more:
    between reads the kernel's buffer holds what the peer sends, so a peer that floods is held
    back by TCP, not buffered here. Writes go straight to send(); what a full socket buffer
    leaves waits for the socket to drain. Replies and header blocks are bounded by
    MAX_HEADER_BYTES. A reset reads as the end of the stream.
    """

    __slots__ = ("buffer", "close_after", "closed", "end_after", "eof", "fd", "flushed", "loop", "sock", "unsent",
                 "waiter", "watching")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket):
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.buffer = bytearray()
        self.eof = False
        self.closed = False
        self.watching = False
        self.waiter: asyncio.Future[None] | None = None
        self.unsent = b""
        self.end_after = False
        self.close_after = False
        self.flushed: asyncio.Future[None] | None = None

    # reading

    def _recv(self) -> bool:
        """Take in what the kernel holds: whether anything (bytes or the end) came."""
        try:
            data = self.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if data:
            self.buffer += data
        else:
            self.eof = True
        return True

    async def _more(self) -> None:
        """Until more bytes, or the end, have come in."""
        if self.eof or self.closed or self._recv():
            return
        self.waiter = self.loop.create_future()
        self.loop.add_reader(self.fd, self._readable)
        self.watching = True
        try:
            await self.waiter
        finally:
            self.waiter = None
            if self.watching:
                self.watching = False
                self.loop.remove_reader(self.fd)

    def _readable(self) -> None:
        if self._recv():
            self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def readline(self) -> bytes:
        """One line with its `\\n`, what is left at the end, b"" after it. ValueError for a line over
        MAX_HEADER_BYTES."""
        while True:
            end = self.buffer.find(b"\n", 0, MAX_HEADER_BYTES + 1)
            if end >= 0:
                line = bytes(self.buffer[:end + 1])
                del self.buffer[:end + 1]
                return line
            if len(self.buffer) > MAX_HEADER_BYTES:  # however much one read brought
                raise ValueError(f"line over {MAX_HEADER_BYTES} bytes")
            if self.eof or self.closed:
                line = bytes(self.buffer)
                self.buffer.clear()
                return line
            await self._more()

    async def header(self, first_line: Callable[[], None] | None = None) -> bytes:
        """The header block through its blank line; BadRequest for anything that is not one.

        `first_line` is called once the first line is in and the block is not.
        """
        buf = self.buffer
        told = False
        while True:
            if buf[:4] != b"agi_"[:len(buf)]:
                line_end = buf.find(b"\n")
                raise BadRequest(f"not AGI: {bytes(buf[:line_end + 1 if line_end >= 0 else 60][:60])!r}")
            end = buf.find(b"\n\n", 0, MAX_HEADER_BYTES + 2)
            if end >= 0:
                block = bytes(buf[:end + 2])
                del buf[:end + 2]
                return block
            if len(buf) > MAX_HEADER_BYTES:  # however much one read brought
                if buf.find(b"\n", 0, MAX_HEADER_BYTES + 1) < 0:
                    raise BadRequest(f"header line longer than {MAX_HEADER_BYTES} bytes")
                raise BadRequest(f"header block over {MAX_HEADER_BYTES} bytes")
            if self.eof or self.closed:
                if not buf:
                    raise BadRequest("peer disconnected before sending anything")
                if not buf.startswith(b"agi_"):
                    raise BadRequest(f"not AGI: {bytes(buf[:60])!r}")
                lines = buf.count(b"\n") + 1
                raise BadRequest(f"peer disconnected after {lines} header lines, before the blank line")
            if first_line is not None and not told and b"\n" in buf:
                told = True
                first_line()
            await self._more()

    def has_input(self) -> bool:
        """Whether a header is waiting: read and not yet parsed, or unread in the kernel. A silent or
        dribbling connection has neither."""
        if self.closed:
            return False
        if b"\n\n" in self.buffer:
            return True
        try:
            return struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0] > 0
        except OSError:
            return False

    # writing

    def write(self, data: bytes) -> None:
        """Send now; what the socket cannot take yet is sent as it drains. A dead peer shows as the
        end of the stream on the next read."""
        if self.closed:
            return
        if self.unsent:
            self.unsent += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.eof = True
            return
        if sent < len(data):
            self.unsent = data[sent:]
            self.loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.eof = True
            sent = len(self.unsent)
        self.unsent = self.unsent[sent:]
        if not self.unsent:
            self.loop.remove_writer(self.fd)
            if self.end_after:
                self._shutdown()
            if self.flushed is not None and not self.flushed.done():
                self.flushed.set_result(None)
            if self.close_after:
                self.close()

    async def drain(self) -> None:
        """Until everything written has gone to the kernel."""
        if self.unsent and not self.closed:
            self.flushed = self.loop.create_future()
            await self.flushed

    def write_eof(self) -> None:
        """The end of our side (a FIN), right behind what was written."""
        if self.unsent:
            self.end_after = True
        elif not self.closed:
            self._shutdown()

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close now; a read under way sees the end. Bytes the peer would not take are dropped."""
        if self.closed:
            return
        self.closed = True
        if self.watching:
            self.watching = False
            self.loop.remove_reader(self.fd)
        if self.unsent:
            self.unsent = b""
            self.loop.remove_writer(self.fd)
        if self.flushed is not None and not self.flushed.done():
            self.flushed.set_result(None)
        self.sock.close()
        self._wake()

    abort = close
    """What admission calls to shed an idle connection."""

    def close_when_sent(self, within: float) -> None:
        """Close once what is written has gone to the kernel (the last command of `end_with`, say),
        or after `within` seconds if the peer will not take it."""
        if self.unsent and not self.closed:
            self.close_after = True
            self.loop.call_later(within, self.close)
        else:
            self.close()


async def read_env(conn: AGISocket, first_line: Callable[[], None] | None = None) -> dict[str, str]:
    """The `agi_*` header block. The caller bounds the time; MAX_HEADER_BYTES bounds the size.

    `first_line` is called once the first line is in and the block is not (the caller moves its deadline
    then: a block that arrives whole, as Asterisk sends it, needs no deadline of its own).
    """
    block = await conn.header(first_line)
    if block.count(b"\n") > MAX_HEADER_LINES:
        raise BadRequest(f"header block over {MAX_HEADER_LINES} lines")
    # decoded once: a line's length is then counted in characters, which bounds its bytes to 4 times that
    return parse_env(block.decode("utf-8", "replace"))


_KEY_LINE = re.compile(r"^(agi_[!-9;-~]*): (.*)$", re.M)
"""A plain header line: a printable ASCII key without `:`, then `: ` and the value."""


def parse_env(block: str) -> dict[str, str]:
    """A header block (its lines, then a blank one) as `agi_*` keys and values.

    As Asterisk sends it — every line a plain `agi_key: value`, no key twice, no line too long —
    one regular expression reads it; anything else is read line by line (`parse_lines`), which
    gives the same answer where both apply.
    """
    pairs = _KEY_LINE.findall(block)
    if len(pairs) == block.count("\n") - 1 and block.endswith("\n\n") and len(block) <= MAX_LINE:
        env = dict(pairs)
        if len(env) == len(pairs):
            return {k: v.rstrip("\r") for k, v in pairs} if "\r" in block else env
    return parse_lines(block)


def parse_lines(block: str) -> dict[str, str]:
    """A header block line by line: garbage counted, the caller's name read across line breaks."""
    env: dict[str, str] = {}
    garbage = 0
    in_name = False
    for line in block.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_") or len(line) > MAX_LINE or not key.isascii():
            if in_name and len(line) <= MAX_LINE:  # Asterisk writes the caller's name raw, line breaks too
                env[NAME] += "\n" + line.rstrip("\r")
                continue
            garbage += 1
            if garbage > MAX_GARBAGE_LINES:
                raise BadRequest(f"not AGI: {line[:60].encode()!r}")
            continue
        in_name = key == NAME
        if key in env and key in FIRST_WINS:
            continue  # a second copy of a key sent before the name can only be text inside the name
        env[key] = value.rstrip("\r")
    return env


class AGISession:
    """One FastAGI conversation with Asterisk, over a connection whose header block has been read."""

    __slots__ = ("conn", "env", "hangups", "hung_up", "lines")

    def __init__(self, conn: AGISocket, env: dict[str, str]):
        self.conn = conn
        self.env = env
        self.hung_up = False
        self.hangups = 0
        self.lines = 0

    async def _line(self) -> bytes:
        self.lines += 1
        if self.lines > MAX_SESSION_LINES:
            raise AGIProtocolError(f"over {MAX_SESSION_LINES} lines in one session")
        try:
            line = await self.conn.readline()
        except ValueError:
            raise AGIProtocolError(f"reply line longer than {MAX_HEADER_BYTES} bytes") from None
        if not line:
            raise AGIDeadChannel("Asterisk closed the connection")
        return line.rstrip(b"\r\n")

    async def command(self, line: str) -> Reply:
        self.conn.write(line.encode() + b"\n")
        await self.conn.drain()
        while True:
            raw = await self._line()
            if raw == b"HANGUP":
                # sent unprompted, in line with replies, once the caller hangs up
                self.hung_up = True
                self.hangups += 1
                if self.hangups > MAX_HANGUPS:
                    raise AGIProtocolError(f"{self.hangups} unprompted HANGUP lines")
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

    def end_with(self, line: str) -> None:
        """Send the conversation's last command and end it, not waiting for the reply.

        Asterisk runs a command it read before the end of the stream, then reads the end and
        finishes the AGI with AGISTATUS SUCCESS (res_agi's run_agi: an empty read is "script
        completed"). Not waiting spares Asterisk a sleep and a wake-up on every call, and us
        reading a reply we could not act on: the call is Asterisk's again either way. The end is
        a shutdown sent right behind the command, so Asterisk normally reads it before the reset
        that closing with its reply unread causes; should the reset come first, res_agi takes the
        read error as the end all the same.
        """
        self.conn.write(line.encode() + b"\n")
        self.conn.write_eof()

    async def set_variable(self, name: str, value: object) -> Reply:
        return await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def verbose(self, message: str, level: int = 3) -> Reply:
        return await self.command(f"VERBOSE {quote(message)} {level}")


Handler = Callable[[AGISession], Awaitable[None]]


class Deadline:
    """One timer for a session whose deadline only ever moves later (idle, then header, then session).

    Moving it stores a float: when the timer fires before the deadline in force, it re-arms for
    it. Most sessions end before the first deadline, so a call costs one timer, not one per move
    (`asyncio.timeout` cancels and re-creates its timer at every reschedule). Used as a context,
    like `asyncio.timeout`: the task's cancel on expiry comes out as TimeoutError.
    """

    __slots__ = ("expired", "handle", "loop", "task", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task, when: float):
        self.loop = loop
        self.task = task
        self.when = when
        self.expired = False
        self.handle = loop.call_at(when, self._fire)

    def move(self, when: float) -> None:
        self.when = when

    def _fire(self) -> None:
        if self.loop.time() < self.when:
            self.handle = self.loop.call_at(self.when, self._fire)
            return
        self.expired = True
        self.task.cancel()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.handle.cancel()
        if exc_type is asyncio.CancelledError and self.expired and self.task.uncancel() == 0:
            raise TimeoutError from None  # ours alone, not a drain or a shutdown


class FastAGIServer:
    """Accepts FastAGI connections and hands each to the handler of its script path.

    Connections are bounded in number (overall and per address, see `Admission`) and in time
    (idle, header, session). Refusals, sheds and broken sessions are counted in `flood.totals`
    and logged as one summary line a second, however fast they come.
    """

    def __init__(self, routes: dict[str, Handler], host: str = "127.0.0.1", port: int = 4573,
                 max_connections: int = MAX_CONNECTIONS, max_per_peer: int | None = None,
                 idle_timeout: float | None = None, header_timeout: float | None = None):
        self.routes = routes
        self.host = host
        self.port = port
        self.admission = Admission(max_connections, max_per_peer or max(1, max_connections // 2))
        self.header_timeout = header_timeout or HEADER_TIMEOUT
        self.idle_timeout = min(idle_timeout or IDLE_TIMEOUT, self.header_timeout)
        self.flood = FloodLog(log, "AGI")
        self._listeners: list[socket.socket] = []
        self._sessions: set[asyncio.Task] = set()

    @property
    def active(self) -> int:
        return self.admission.open

    async def start(self) -> None:
        """Listen on every address `host` names, all interfaces for "" (each on the same port: the first
        one's, when 0).

        The name is resolved on the loop's thread: a bind address is an address or a local name,
        and the executor's thread would outlive the lookup for nothing.
        """
        loop = asyncio.get_running_loop()
        found = socket.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,  # "": every interface
                                   flags=socket.AI_PASSIVE)
        try:
            for family, kind, proto, _, address in dict.fromkeys(found):
                try:
                    sock = socket.socket(family, kind, proto)
                except OSError as e:  # a family this host lacks (IPv6 turned off): the others serve
                    log.warning("AGI: not listening on %s: %s", address[0], e)
                    continue
                self._listeners.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if self._listeners[0] is not sock:
                    address = (address[0], self.port, *address[2:])
                sock.bind(address)
                self.port = sock.getsockname()[1]
                sock.listen(BACKLOG)
                sock.setblocking(False)
        except OSError:
            self._stop_listening()
            raise
        if not self._listeners:
            raise OSError(f"no address of {self.host!r} can be listened on")
        for sock in self._listeners:
            loop.add_reader(sock.fileno(), self._accept, sock)

    def _stop_listening(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._listeners:
            loop.remove_reader(sock.fileno())
            sock.close()
        self._listeners = []

    async def close(self) -> None:
        self._stop_listening()
        self.flood.flush()

    async def drain(self, seconds: float) -> int:
        """Stop accepting, let the sessions under way finish within `seconds`, cut the rest: how many were cut."""
        self._stop_listening()
        cut = 0
        if self._sessions:
            log.info("AGI: no longer accepting; waiting up to %.0f s for %d sessions under way", seconds,
                     len(self._sessions))
            _, late = await asyncio.wait(set(self._sessions), timeout=seconds)
            for task in late:
                task.cancel()
            cut = len(late)
            if late:
                await asyncio.wait(late, timeout=1)
                log.warning("AGI: %d sessions still open after %.0f s were cut", cut, seconds)
        await self.close()
        return cut

    def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in RETRY_ACCEPT:  # the peer left, or its network did, while it was queued
                    continue
                if e.errno in OUT_OF_FDS:
                    self.flood.note(ACCEPT_FAILED, f"{e.strerror}; new connections wait {ACCEPT_PAUSE:.0f} s")
                else:
                    log.error("AGI: accept() failed (%s); new connections wait %.0f s", e, ACCEPT_PAUSE)
                loop.remove_reader(listener.fileno())  # level-triggered: it would fail again at once, forever
                loop.call_later(ACCEPT_PAUSE, self._resume, listener)
                return
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # as asyncio does: no command waits for an ACK
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._admit(loop, sock, peer)

    def _resume(self, listener: socket.socket) -> None:
        if listener in self._listeners:
            asyncio.get_running_loop().add_reader(listener.fileno(), self._accept, listener)

    def _admit(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, peer: tuple) -> None:
        host = str(peer[0]) if peer else "?"
        where = f"{host}:{peer[1]}" if peer else "?"
        conn = AGISocket(loop, sock)
        slot, refused, shed = self.admission.admit(conn, host, conn.has_input)
        if shed is not None:
            self.flood.note(admission.SHED, f"{shed.host}, for {where}")
        if slot is None:
            peers = self.admission.per_peer.get(host, 0)
            why = (f"{where}; {self.admission.open} open, {peers} from {host}; raise ROUTER_MAX_CONNECTIONS or "
                   "add routers")
            self.flood.note(refused or admission.REFUSED_FULL, why)
            conn.close()
            return
        task = loop.create_task(self._client(conn, where, slot))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _client(self, conn: AGISocket, where: str, slot: admission.Slot) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            await self._session(conn, where, slot, task)
        finally:
            self.admission.release(slot)
            conn.close_when_sent(LINGER)

    async def _session(self, conn: AGISocket, where: str, slot: admission.Slot, task: asyncio.Task) -> None:
        # one timer per call: the idle deadline, moved to the header deadline, then to the session deadline
        channel = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        header_due = now + self.header_timeout
        try:
            with Deadline(loop, task, now + self.idle_timeout) as deadline:
                try:
                    env = await read_env(conn, lambda: deadline.move(header_due))
                except BadRequest as e:
                    if not slot.shed:
                        self.flood.note(BAD_HEADER, f"{where}: {e}")
                    return
                self.admission.started(slot)
                script = script_of(env)
                handler = self.routes.get(script)
                channel = env.get("agi_channel", "?")
                if handler is None:
                    log.warning("AGI %s channel %r: unknown script %r (served: %s); check the AGI() URL in the "
                                "dialplan", where, channel, script, ", ".join(sorted(self.routes)))
                    return
                deadline.move(loop.time() + SESSION_TIMEOUT)
                await handler(AGISession(conn, env))
        except TimeoutError:
            if channel is None:
                self.flood.note(HEADER_LATE, f"{where}, within {self.idle_timeout:.0f} s (first line) / "
                                             f"{self.header_timeout:.0f} s (block)")
            else:
                log.warning("AGI channel %r: Asterisk did not answer our commands within %.0f s; session closed",
                            channel, SESSION_TIMEOUT)
        except AGIDeadChannel as e:
            log.info("AGI channel %r: caller hung up before routing finished (%s)", channel, e)
        except AGIProtocolError as e:
            self.flood.note(ABUSE, f"{where} channel {channel!r}: {e}")
        except AGIError as e:
            log.warning("AGI channel %r: %s: %s", channel, type(e).__name__, e)
        except (ConnectionError, OSError) as e:
            if not slot.shed:
                log.warning("AGI %s channel %r: connection lost (%s)", where, channel, e)
        except Exception:
            log.exception("AGI channel %r: handler failed; the dialplan's own fallback takes the call", channel)
