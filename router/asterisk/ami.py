"""The AMI listener: who is busy now, and how every call ended.

panoramisk's Manager does login, actions and pings; three of its habits are replaced:
each TCP read is no longer decoded on its own (a character split across reads lost letters),
an exception in an event handler no longer closes the connection, and reconnects back off
instead of retrying every 2 s for ever. After every (re)connect the state is read afresh:
DeviceStateList, QueueStatus, CoreShowChannels.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message as PanoramiskMessage

from router.asterisk.amiwire import Framer, Message
from router.asterisk.calltracker import HANDLERS, CallTracker, Outcome
from router.state.store import Store
from router.state.writer import write_forever

log = logging.getLogger("router.ami")

BACKOFF_MAX = 30.0
EVENTS = frozenset({*HANDLERS, "FullyBooted"})
"""Events the listener reads; Asterisk's other events are dropped unread (asterisk/manager.conf
filters them out at the source too). FullyBooted makes panoramisk re-send waiting actions."""
QUEUE_STATUS_TO_DEVICE = {"1": "NOT_INUSE", "2": "INUSE", "3": "BUSY", "4": "INVALID", "5": "UNAVAILABLE",
                          "6": "RINGING", "7": "RINGINUSE", "8": "ONHOLD", "0": "UNKNOWN"}


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

    def __init__(self, skipped: Callable[[int], None] | None = None,
                 on_event: Callable[[Message], None] | None = None):
        super().__init__()
        self.on_skipped = skipped
        self.on_event = on_event

    def connection_made(self, transport):
        super().connection_made(transport)
        self.framer = Framer(EVENTS)

    def data_received(self, data: bytes) -> None:
        before = self.framer.skipped
        messages = self.framer.feed(data)
        if self.on_skipped is not None and self.framer.skipped != before:
            self.on_skipped(self.framer.skipped - before)
        for m in messages:
            if self.version is None and self.framer.banner:
                self.version = self.framer.banner.partition("/")[2]
            if "Event" not in m and "Response" not in m:
                log.warning("AMI: message without Event or Response ignored: %r", dict(list(m.items())[:3]))
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
                log.exception("AMI: handling %s failed; the connection stays up", m.get("Event") or "a response")


class Listener:
    """Feeds AMI events to the call tracker and writes what it learns to the store."""

    def __init__(self, target: AMITarget, store: Store, region: str = "RU",
                 clock: Callable[[], float] = time.time, on_outcome: Callable[[dict], None] | None = None):
        self.target = target
        self.store = store
        self.clock = clock
        self.tracker = CallTracker(region)
        self.on_outcome = on_outcome
        self.pending: deque[tuple[str, object]] = deque()
        self._wake = asyncio.Event()
        self.backoff = 1.0
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self.events = 0
        self.skipped = 0
        self.manager = Manager(host=target.host, port=target.port, username=target.username,
                               secret=target.secret, events="on", encoding="utf-8", ping_delay=10,
                               ping_interval=10, reconnect_timeout=1,
                               protocol_factory=functools.partial(SafeProtocol, self._skip, self._feed),
                               on_login=self._on_login, on_disconnect=self._on_disconnect,
                               forgetable_actions=("ping", "login", "devicestatelist", "queuestatus",
                                                   "coreshowchannels"))
        self.manager.register_event("*", self._on_event)
        self._writer: asyncio.Task | None = None
        self._resync_task: asyncio.Future | None = None
        self._flushing = asyncio.Lock()

    @property
    def received(self) -> int:
        """Events Asterisk sent this listener, read or skipped unread (the benchmark counts them)."""
        return self.events + self.skipped

    def _skip(self, n: int) -> None:
        self.skipped += n

    # connection

    def start(self) -> None:
        self.manager.loop = asyncio.get_running_loop()
        self.manager.connect()
        self._writer = asyncio.create_task(self._write_loop(), name="ami-writer")

    async def stop(self) -> None:
        self.manager.close()
        if self._writer is not None:
            self._writer.cancel()
        try:
            await self.flush()
        except Exception as e:
            log.error("AMI: %d outcomes not written at shutdown (%s)", len(self.pending), e)

    def _on_login(self, manager: Manager) -> None:
        log.info("AMI: logged in to %s:%d as %s", self.target.host, self.target.port, self.target.username)
        self.backoff = 1.0
        manager.reconnect_timeout = self.backoff
        self.connected.set()
        self._resync_task = asyncio.ensure_future(self._resync())

    def _on_disconnect(self, manager: Manager, exc) -> None:
        self.connected.clear()
        self.synced.clear()
        log.warning("AMI: connection to %s:%d lost (%s); reconnecting in %.0f s", self.target.host,
                    self.target.port, exc or "closed", self.backoff)
        manager.reconnect_timeout = self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    async def _resync(self) -> None:
        """After a (re)connect: device states, queue members, and which calls still exist."""
        try:
            devices = await self.manager.send_action({"Action": "DeviceStateList"}, as_list=True)
            for m in _items(devices, "DeviceStateChange"):
                self.pending.append(("device", (m.get("Device"), m.get("State"))))
            queues = await self.manager.send_action({"Action": "QueueStatus"}, as_list=True)
            for m in _items(queues, "QueueMember"):
                if m.get("StateInterface") and m.get("Location") and m["StateInterface"] != m["Location"]:
                    self.tracker.members[m["Location"]] = m["StateInterface"]
                device = m.get("StateInterface") or m.get("Location")
                state = QUEUE_STATUS_TO_DEVICE.get(m.get("Status", ""), "")
                if device and state and not device.startswith("Local/"):
                    self.pending.append(("device", (device, state)))
            channels = await self.manager.send_action({"Action": "CoreShowChannels"}, as_list=True)
            alive = {m.get("Uniqueid") for m in _items(channels, "CoreShowChannel")}
            self.tracker.forget_missing({u for u in alive if u}, self.clock())
            self._collect()
            self.synced.set()
            log.info("AMI: state read afresh: %d devices, %d active channels", len(_items(devices,
                     "DeviceStateChange")), len(alive))
        except Exception:
            log.exception("AMI: resynchronisation failed; state will catch up from events")

    # events

    def _on_event(self, manager: Manager, event) -> None:
        """Events panoramisk dispatches: those that carry an ActionID (the rest come to `_feed`)."""
        e = dict(event)
        if e.get("ActionID") and e.get("Event", "").startswith(("CoreShowChannel", "DeviceStateList")):
            self.events += 1
            return
        if "ActionID" in e:
            self._feed(e)

    def _feed(self, e: dict) -> None:
        try:
            self.events += 1
            ts = e.get("Timestamp")
            at = float(ts) if ts else self.clock()
            self.tracker.feed(e, at)
            self._collect()
        except Exception:
            log.exception("AMI: event %r not understood; skipped", e.get("Event"))

    def _collect(self) -> None:
        outcomes, states = self.tracker.take()
        for device, state in states:
            self.pending.append(("device", (device, state)))
        for o in outcomes:
            self.pending.append(("outcome", o))
        if outcomes or states:
            self._wake.set()

    # writing

    async def flush(self) -> None:
        async with self._flushing:  # the writer task and a shutdown may flush at once
            await self._flush()

    async def _flush(self) -> None:
        while self.pending:
            kind, item = self.pending[0]
            if kind == "device":
                device, state = item  # type: ignore[misc]
                if device and state:
                    await self.store.set_device_state(device, state)
            elif kind == "outcome":
                assert isinstance(item, Outcome)
                if await self.store.record_outcome(item.as_dict()) and self.on_outcome is not None:
                    # recorded: what follows it (follow-ups) is retried on its own if the store fails now
                    self.pending[0] = ("recorded", item.as_dict())
                    continue
            elif self.on_outcome is not None:
                done = self.on_outcome(item)  # type: ignore[arg-type]
                if inspect.isawaitable(done):
                    await done
            self.pending.popleft()

    async def _write_loop(self) -> None:
        await write_forever(self._wake, self.flush, lambda: len(self.pending), log, "AMI", first_delay=0.2)


def _items(reply, event: str) -> list:
    if not isinstance(reply, list):
        return []
    return [m for m in reply if m.get("Event") == event]
