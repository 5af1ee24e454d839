"""The AMI listener: who is busy now, and how every call ended.

The connection itself (panoramisk, with three of its habits replaced) is router/asterisk/
amiconnection.py. Here: after every (re)connect the state is read afresh (DeviceStateList,
QueueStatus, ExtensionStateList, CoreShowChannels); every event goes to the call tracker; what it learns is written
to the store in order (device states, outcomes in batches), journaled every 100 ms, and passed on
(outcomes once written, ringing phones at once).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from panoramisk import Manager

from router.asterisk.agentstates import EVENTS as AGENT_EVENTS
from router.asterisk.agentstates import AgentNow, AgentStates, Mark, Span
from router.asterisk.amiconnection import AMITarget, ListenerManager, SafeProtocol
from router.asterisk.amijournal import JOURNAL_EVERY, Journal
from router.asterisk.calltracker import CallTracker, hint_state
from router.asterisk.inventory import Inventory, read_inventory
from router.core.outcome import Outcome
from router.core.ring import Ring
from router.periodic import Periodic
from router.state.base import Command
from router.state.store import Store
from router.state.writer import write_forever

log = logging.getLogger("router.ami")

AgentChanges = tuple[list[Span], list[Mark], dict[str, AgentNow]]
Pending = (tuple[Literal["device"], tuple[str, str]] | tuple[Literal["paused"], tuple[str, str, bool]]
           | tuple[Literal["outcome", "recorded"], Outcome] | tuple[Literal["agents"], AgentChanges])
"""What waits for the store: a device state, a queue member's pause (for the worklist), an outcome to write,
a written outcome whose follow-ups wait, queue members' states (for the report)."""
BACKOFF_MAX = 30.0
OUTCOME_BATCH = 200
"""Outcomes written in one pair of round trips: those that ended while the previous batch was written."""


class Watcher(Protocol):
    """Anyone else following the events (the wallboard's live queues): told of each event it names in
    `events`, and of the QueueStatus answer (QueueParams, QueueMember, QueueEntry) read after every
    (re)connect."""

    events: frozenset[str]

    def feed(self, event: dict, at: float) -> None: ...

    def seed(self, items: list[dict], now: float) -> None: ...


QUEUE_STATUS_TO_DEVICE = {"1": "NOT_INUSE", "2": "INUSE", "3": "BUSY", "4": "INVALID", "5": "UNAVAILABLE",
                          "6": "RINGING", "7": "RINGINUSE", "8": "ONHOLD", "0": "UNKNOWN"}


class Listener:
    """Feeds AMI events to the call tracker and writes what it learns to the store.

    `call_later(delay, callback)` schedules reconnects (the loop's by default; tests pass their
    own to see the back-off without waiting for it).
    """

    def __init__(self, target: AMITarget, store: Store, region: str = "RU",
                 clock: Callable[[], float] = time.time,
                 on_outcome: Callable[[Outcome], Awaitable[None] | None] | None = None,
                 call_later: Callable | None = None, outcome_writes: Callable[[Outcome], list[Command]] | None = None,
                 on_ring: Callable[[Ring], None] | None = None):
        self.target = target
        self.where = f"AMI {target.host}:{target.port}"
        self.store = store
        self.clock = clock
        self.tracker = CallTracker(region)
        self.agents = AgentStates()
        """Queue members' states (pauses, wrap-up, logins) from the same events."""
        self.on_outcome = on_outcome
        self.outcome_writes = outcome_writes
        self.on_ring = on_ring
        self.inventory_check: Callable[[Inventory], list[str]] | None = None
        """After each login: what the rules name that this Asterisk lacks, each logged as a warning."""
        """Told at once when a phone starts or stops ringing for a routed caller (nothing is stored)."""
        """More commands written with each outcome, in its round trip (the call as a customer event)."""
        self.watchers: list[Watcher] = []
        self.pending: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self.backoff = 1.0
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self.events = 0
        self.skipped = 0
        self.last_event_at: float | None = None
        self.reconnects = 0
        self.connect_failures = 0
        self.failing_since: float | None = None
        self.connect_failures_in_a_row = 0
        self.state_since = clock()
        self.manager = ListenerManager(
            self._on_connect_failed, call_later or (lambda delay, f: asyncio.get_running_loop().call_later(delay, f)),
            host=target.host, port=target.port, username=target.username,
                               secret=target.secret, events="on", encoding="utf-8", ping_delay=10,
                               ping_interval=10, reconnect_timeout=1,
                               protocol_factory=functools.partial(SafeProtocol, self._skip, self._feed, self.where),
                               on_login=self._on_login, on_disconnect=self._on_disconnect,
                               forgetable_actions=("ping", "login", "devicestatelist", "queuestatus",
                                                   "extensionstatelist", "coreshowchannels"))
        self.manager.register_event("*", self._on_event)
        self.journal_name = ""
        """The journal's name (the router's instance name, stable across restarts); "" keeps none."""
        self.journal = Journal()
        self._journal_rounds = Periodic("ami-journal", JOURNAL_EVERY, self.write_journal, (), lambda error: None)
        self._writer: asyncio.Task | None = None
        self._resync_task: asyncio.Future | None = None
        self._flushing = asyncio.Lock()

    @property
    def received(self) -> int:
        """Events Asterisk sent this listener, read or skipped unread (the benchmark counts them)."""
        return self.events + self.skipped

    def _skip(self, n: int) -> None:
        self.skipped += n
        self.last_event_at = self.clock()

    # connection

    async def restore(self) -> None:
        """Before connecting: the calls and unwritten outcomes this router's previous run journaled. The
        resync after login then finishes those calls that ended while the router was away."""
        if not self.journal_name:
            return
        found = await self.store.journal_read(self.journal_name)
        self.journal.restored(found)
        calls = [v for f, v in found.items() if f.startswith("c:")]
        outcomes = [Outcome.from_record(v) for f, v in found.items() if f.startswith("o:")]
        self.tracker.restore(calls)
        for o in outcomes:
            self.pending.append(("outcome", o))
        if calls or outcomes:
            log.warning("%s: the last run stopped while following %d calls, %d outcomes not yet written: "
                        "taken up again", self.where, len(calls), len(outcomes))
            self._wake.set()

    def start(self) -> None:
        self.manager.loop = asyncio.get_running_loop()
        self.manager.connect()
        self._writer = asyncio.create_task(self._write_loop(), name="ami-writer")
        if self.journal_name:
            self._journal_rounds.start()

    async def stop(self, seconds: float | None = None) -> None:
        """A last flush (within `seconds`); what the store did not take stays in `pending`."""
        self.manager.close()
        if self._writer is not None:
            self._writer.cancel()
        await self._journal_rounds.stop()
        try:
            async with asyncio.timeout(seconds):
                await self.flush()
                if self.journal_name:
                    await self.write_journal()  # what the last flush wrote leaves the journal
        except Exception as e:
            log.error("%s: %d outcomes not written at shutdown (%s)", self.where, len(self.pending), e)

    def status(self) -> dict:
        """For /healthz: connected or not since when, the last event, reconnects and failed connects."""
        return {"host": f"{self.target.host}:{self.target.port}", "connected": self.connected.is_set(),
                "since": self.state_since, "last_event_at": self.last_event_at, "events": self.received,
                "reconnects": self.reconnects, "connect_failures": self.connect_failures}

    def _on_login(self, manager: Manager) -> None:
        if self.failing_since is not None:
            log.info("%s: logged in as %s after %d failed attempts", self.where, self.target.username,
                     self.connect_failures_in_a_row)
        else:
            log.info("%s: logged in as %s", self.where, self.target.username)
        self.backoff = 1.0
        self.failing_since = None
        self.connect_failures_in_a_row = 0
        self.state_since = self.clock()
        manager.reconnect_timeout = self.backoff
        self.connected.set()
        self._resync_task = asyncio.ensure_future(self._resync())

    def _next_delay(self) -> float:
        delay = self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        return delay

    def _on_disconnect(self, manager: Manager, exc) -> None:
        self.connected.clear()
        self.synced.clear()
        self.reconnects += 1
        self.state_since = self.clock()
        manager.reconnect_timeout = delay = self._next_delay()
        log.warning("%s: connection lost (%s); reconnecting in %.0f s", self.where, exc or "closed", delay)

    def _on_connect_failed(self, exc: OSError) -> float:
        """A connect that failed: wait longer each time; log each try until the wait is at its longest,
        then one line in ten (every 5 min), so a PBX that is down for a night costs a hundred lines."""
        now = self.clock()
        self.connect_failures += 1
        self.connect_failures_in_a_row += 1
        if self.failing_since is None:
            self.failing_since = now
        delay = self._next_delay()
        n = self.connect_failures_in_a_row
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        if delay < BACKOFF_MAX or n % 10 == 0:
            log.warning("%s: cannot connect (%s); %d attempts in %.0f s, next in %.0f s", self.where, reason, n,
                        now - self.failing_since, delay)
        return delay

    async def _resync(self) -> None:
        """After a (re)connect: device states, queue members, which calls still exist, and what the rules
        name that this Asterisk lacks. An action Asterisk refuses (a missing privilege or module) is
        logged and skipped: panoramisk tells a listing from a single answer by itself (`as_list=True`
        would wait for ever on a refusal)."""
        try:
            devices = await self.manager.send_action({"Action": "DeviceStateList"})
            for m in _items(devices, "DeviceStateChange"):
                self.pending.append(("device", (m.get("Device") or "", m.get("State") or "")))
            queues = await self.manager.send_action({"Action": "QueueStatus"})
            for w in self.watchers:
                w.seed(queues if isinstance(queues, list) else [], self.clock())
            for m in _items(queues, "QueueMember"):
                self.agents.from_status(m, self.clock())
                if m.get("StateInterface") and m.get("Location") and m["StateInterface"] != m["Location"]:
                    self.tracker.members[m["Location"]] = m["StateInterface"]
                device = m.get("StateInterface") or m.get("Location")
                if device and m.get("Queue"):
                    self.pending.append(("paused", (device, m["Queue"], m.get("Paused") == "1")))
                state = QUEUE_STATUS_TO_DEVICE.get(m.get("Status", ""), "")
                if device and state and not device.startswith("Local/"):
                    self.pending.append(("device", (device, state)))
            hints = await self.manager.send_action({"Action": "ExtensionStateList"})
            for m in _items(hints, "ExtensionStatus"):
                device, state = hint_state(m)
                if device and state:
                    self.pending.append(("device", (device, state)))
            channels = await self.manager.send_action({"Action": "CoreShowChannels"})
            if isinstance(channels, list):
                alive = {m.get("Uniqueid") for m in _items(channels, "CoreShowChannel")}
                self.tracker.forget_missing({u for u in alive if u}, self.clock())
            else:  # without the list, every call followed would look ended: keep them
                log.error("%s: CoreShowChannels refused (%s): calls that ended while disconnected stay open; "
                          "give the AMI user `write = reporting`", self.where, channels.get("Message"))
            self._collect()
            self.synced.set()
            log.info("%s: state read afresh: %d devices, %d active channels", self.where, len(_items(devices,
                     "DeviceStateChange")), len(_items(channels, "CoreShowChannel")))
            if self.inventory_check is not None:
                for line in self.inventory_check(await read_inventory(self.manager)):
                    log.warning("%s: %s", self.where, line)
        except Exception:
            log.exception("%s: resynchronisation failed; state will catch up from events", self.where)

    # events

    def _on_event(self, manager: Manager, event) -> None:
        """Events panoramisk dispatches: those that carry an ActionID (the rest come to `_feed`)."""
        e = dict(event)
        if e.get("ActionID") and e.get("Event", "").startswith(("CoreShowChannel", "DeviceStateList",
                                                                "ExtensionStat")):
            self.events += 1
            return
        if "ActionID" in e:
            self._feed(e)

    def _feed(self, e: dict) -> None:
        try:
            self.events += 1
            name = e.get("Event", "")
            ts = e.get("Timestamp")
            self.last_event_at = now = self.clock()
            at = float(ts) if ts else now
            for w in self.watchers:
                if name in w.events:  # most events of a call are of no queue: a set lookup, not a call
                    w.feed(e, at)
            self.tracker.feed(e, at)
            if name in AGENT_EVENTS:
                self.agents.feed(e, at)
            self._collect()
        except Exception:
            log.exception("%s: event %r not understood; skipped", self.where, e.get("Event"))

    def _collect(self) -> None:
        """What the event changed, queued for the store (after each event: most change nothing to write)."""
        tracker, agents = self.tracker, self.agents
        if not (tracker.rings or tracker.pauses or tracker.outcomes or tracker.device_states or agents.spans
                or agents.marks or agents.changed):
            return
        for ring in self.tracker.take_rings():
            if self.on_ring is not None:
                self.on_ring(ring)
        for pause in self.tracker.take_pauses():
            self.pending.append(("paused", pause))
            self._wake.set()
        outcomes, states = self.tracker.take()
        for device, state in states:
            self.pending.append(("device", (device, state)))
        spans, marks, now = self.agents.take()
        if spans or marks or now:
            self.pending.append(("agents", (spans, marks, now)))
        for o in outcomes:
            if o.answered and o.queue and not o.wrapup_seconds:
                o.wrapup_seconds = float(self.agents.wrapup_of(o.by, o.queue))
            self.pending.append(("outcome", o))
            if self.journal_name:
                self.journal.outcome(o)
        if outcomes or states or spans or marks or now:
            self._wake.set()

    # writing

    async def flush(self) -> None:
        async with self._flushing:  # the writer task and a shutdown may flush at once
            await self._flush()

    async def _flush(self) -> None:
        while self.pending:
            item = self.pending[0]
            if item[0] == "device":
                device, state = item[1]
                if device and state:
                    await self.store.set_device_state(device, state)
            elif item[0] == "agents":
                await self.store.record_agent_states(*item[1])
            elif item[0] == "paused":
                await self.store.set_paused(*item[1])
            elif item[0] == "outcome":
                batch = self._outcome_batch()
                written = await self.store.record_outcomes(batch, self.outcome_writes)
                for o in batch:
                    self.pending.popleft()
                    if self.journal_name:
                        self.journal.outcome_written(o)
                if self.on_outcome is not None:
                    # recorded: what follows each (follow-ups) is retried on its own if the store fails now
                    self.pending.extendleft(reversed([("recorded", o) for o, w in zip(batch, written, strict=True)
                                                      if w]))
                continue
            elif self.on_outcome is not None:
                done = self.on_outcome(item[1])
                if inspect.isawaitable(done):
                    await done
            self.pending.popleft()

    def _outcome_batch(self) -> list[Outcome]:
        """The outcomes at the head of the queue, as one batch: each of another number (a call's
        report counters read what the number's previous call wrote), at most OUTCOME_BATCH."""
        batch: list[Outcome] = []
        numbers: set[str] = set()
        for item in itertools.islice(self.pending, OUTCOME_BATCH):
            if item[0] != "outcome":
                break
            o = item[1]
            if o.number in numbers:
                break
            numbers.add(o.number)
            batch.append(o)
        return batch

    async def write_journal(self) -> None:
        """One journal round (router/asterisk/amijournal.py): what changed among the calls followed and the
        outcomes not yet written."""
        self.journal.calls(*self.tracker.journal_changes())
        await self.journal.write(self.store, self.journal_name, self.where)

    async def _write_loop(self) -> None:
        await write_forever(self._wake, self.flush, lambda: len(self.pending), log, self.where, first_delay=0.2)


def _items(reply, event: str) -> list:
    if not isinstance(reply, list):
        return []
    return [m for m in reply if m.get("Event") == event]
