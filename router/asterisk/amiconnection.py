"""The AMI connection: where to log in, and panoramisk with three of its habits replaced.

panoramisk's Manager does login, actions and pings. Here each TCP read is no longer decoded on its
own (a character split across reads lost letters: `Framer` frames bytes into messages first), an
exception in an event handler no longer closes the connection, and reconnects back off (the
listener says how long) instead of retrying every 2 s for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message as PanoramiskMessage

from router.asterisk.agentstates import HANDLERS as AGENT_HANDLERS
from router.asterisk.amiwire import Framer, Message
from router.asterisk.calltracker import HANDLERS
from router.asterisk.queuelive import HANDLERS as QUEUE_HANDLERS

log = logging.getLogger("router.ami")

EVENTS = frozenset({*HANDLERS, *AGENT_HANDLERS, *QUEUE_HANDLERS, "FullyBooted"})
"""Events the listener reads (the call tracker's, the members' states' and the
live queues'); Asterisk's other events are dropped
unread (asterisk/manager.conf filters them out at the source too). FullyBooted makes panoramisk re-send
waiting actions."""


@dataclass(frozen=True, slots=True)
class AMITarget:
    host: str
    port: int
    username: str
    secret: str

    @classmethod
    def parse(cls, url: str, secret: str | None = None) -> AMITarget:
        """`ami://USER:SECRET@HOST:PORT`; the secret may come from ROUTER_AMI_SECRET instead."""
        parts = urlsplit(url)
        if parts.scheme != "ami" or not parts.hostname or not parts.username:
            raise ValueError(f"AMI address {url!r}: write ami://USER:SECRET@HOST:5038 (secret may be left out "
                             "and given in ROUTER_AMI_SECRET)")
        password = unquote(parts.password) if parts.password else secret
        if not password:
            raise ValueError("no AMI secret: put it in ROUTER_AMI_SECRET (never in the repository)")
        return cls(parts.hostname, parts.port or 5038, unquote(parts.username), password)


class SafeProtocol(AMIProtocol):
    """Frames bytes into messages before decoding; survives garbage and failing handlers."""

    version: str | None
    """Asterisk's AMI version from the banner (panoramisk's attribute)."""

    def __init__(self, skipped: Callable[[int], None] | None = None,
                 on_event: Callable[[Message], None] | None = None, where: str = "AMI"):
        super().__init__()
        self.on_skipped = skipped
        self.on_event = on_event
        self.where = where

    def connection_made(self, transport):
        super().connection_made(transport)
        self.framer = Framer(EVENTS, self.where)

    def data_received(self, data: bytes) -> None:
        before = self.framer.skipped
        messages = self.framer.feed(data)
        if self.on_skipped is not None and self.framer.skipped != before:
            self.on_skipped(self.framer.skipped - before)
        for m in messages:
            if self.version is None and self.framer.banner:
                self.version = self.framer.banner.partition("/")[2]
            if "Event" not in m and "Response" not in m:
                log.warning("%s: message without Event or Response ignored: %r", self.where, dict(list(m.items())[:3]))
                continue
            if self.on_event is not None and "Event" in m and "ActionID" not in m:
                # an event on its own goes straight to the tracker: panoramisk's case-insensitive
                # message and its dispatch cost more than everything the tracker does with it
                self.on_event(m)
                if m.name != "FullyBooted":
                    continue
            headers: dict = dict(m)
            for k, v in m.extra:
                prev = headers[k]
                headers[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
            try:
                self.handle_message(PanoramiskMessage(headers))
            except Exception:
                log.exception("%s: handling %s failed; the connection stays up", self.where,
                              m.get("Event") or "a response")


class ListenerManager(Manager):
    """panoramisk's Manager with reconnects left to the listener.

    panoramisk retries a refused connect every second for ever and logs it without naming the
    host; here a failed connect and a lost connection both ask the listener how long to wait,
    and nothing reconnects after `close()`.
    """

    def __init__(self, on_connect_failed: Callable[[OSError], float], call_later, **config):
        super().__init__(**config)
        self.on_connect_failed = on_connect_failed
        self.call_later = call_later
        self.closed = False
        self._retry = None

    def connect(self, *args, **kwargs):
        self._retry = None
        if self.closed:
            return None
        return super().connect(*args, **kwargs)

    def _reconnect_in(self, delay: float) -> None:
        if not self.closed:
            self._retry = self.call_later(delay, self.connect)

    def connection_made(self, f):
        try:
            f.result()
        except OSError as e:
            self._reconnect_in(self.on_connect_failed(e))
            return
        super().connection_made(f)

    def connection_lost(self, exc):
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self.on_disconnect(self, exc)
        self._reconnect_in(self.reconnect_timeout)

    def close(self):
        self.closed = True
        if self._retry is not None:
            self._retry.cancel()
        super().close()


class LoginRefused(Exception):
    """Asterisk answered the login with an error: the user or the secret is wrong."""


class OneShotManager(Manager):
    """A connection for one question (`router check --ami`): no reconnects, the login's answer awaited."""

    def __init__(self, **config: object) -> None:
        super().__init__(reconnect_timeout=-1, ping_delay=3600, **config)
        self.answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def connection_made(self, f):
        if f.cancelled() or f.exception() is not None:
            if not self.answered.done():
                self.answered.set_exception(f.exception() or ConnectionError("connect cancelled"))
            return
        super().connection_made(f)

    def login(self, future):
        ok = super().login(future)
        if not self.answered.done():
            self.answered.set_result(bool(ok))
        return ok


async def login_once(target: AMITarget, seconds: float) -> OneShotManager:
    """A logged-in connection to `target`; LoginRefused, OSError or TimeoutError otherwise."""
    manager = OneShotManager(host=target.host, port=target.port, username=target.username, secret=target.secret)
    manager.loop = asyncio.get_running_loop()
    manager.connect()
    try:
        async with asyncio.timeout(seconds):
            if not await manager.answered:
                raise LoginRefused(f"Asterisk refused the login of {target.username!r}: check the user and its "
                                   "secret in manager.conf")
    except BaseException:
        manager.close()
        raise
    return manager
