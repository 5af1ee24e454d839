"""The decision log: every decision appended to a Redis stream, off the call's path.

Entries wait in memory until the store takes them, so a store outage delays the log but
loses nothing (up to `max_pending` entries, beyond which the oldest are dropped and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from router.core.decide import Decision
from router.core.phones import MAX_NAME, cut
from router.core.replayrecord import record
from router.floodlog import FloodLog
from router.state.store import Store
from router.state.writer import write_forever

log = logging.getLogger("router.decisions")
READ_BUDGET = 1.0
DROPPED = "decisions dropped"
GATHER_SECONDS = 0.05


CALL_FIELDS = (("uniqueid", "uniqueid"), ("channel", "channel"), ("callerid", "callerid"),
               ("name", "calleridname"), ("dnid", "dnid"), ("extension", "extension"))
"""What the log keeps of the AGI header, each cut to MAX_NAME characters (the header is the caller's text)."""


def entry(d: Decision, env: dict[str, str] | None = None) -> dict:
    """A decision as the log, the API and the web page see it; `seen` is what it was decided from
    (router/core/replayrecord.py), built here, after the call was answered."""
    c = d.caller
    out: dict = {
        "id": d.id, "at": round(d.at, 3), "rule": d.rule, "type": d.type, "prospect": d.prospect,
        "fallback": d.fallback,
        "priority": d.priority, "latency_ms": round(d.latency_ms, 3), "reasons": d.reasons,
        "steps": [{"type": s.type, "dest": s.dest, "timeout": s.timeout, "name": s.name} for s in d.steps],
    }
    if env is not None:
        out["call"] = {k: cut(env.get(f"agi_{v}", ""), MAX_NAME) for k, v in CALL_FIELDS}
    if c is not None:
        out["caller"] = {"number": c.number, "name": c.name, "kind": c.kind, "callback_after": c.callback_after,
                         "known": c.known, "abc": c.abc, "manager": c.manager, "tags": sorted(c.tags),
                         "tz": c.tz, "tz_source": c.tz_source, "local_time": c.local.isoformat(timespec="seconds"),
                         "open_followup": c.open_followup, "last_agent": c.last_agent, "task_owner": c.task_owner,
                         "company": c.company, "company_name": c.company_name, "strategy": c.strategy,
                         "switch": c.switch, "choice": c.choice, "crm": c.crm, "risk": c.risk,
                         "risk_signals": [h.name for h in c.risk_hits]}
        if c.menu:
            out["caller"] |= {"menu": c.menu, "key": c.key}
        if c.identified:
            out["caller"] |= {"identified": c.identified, "phone": c.phone}
    if d.escalated:
        out["escalated"] = True
    if d.seen is not None:
        out["seen"] = record(d.seen, c.dnid if c is not None else "")
    out.update(d.extra)
    return out


class DecisionLog:
    def __init__(self, store: Store, max_pending: int = 100_000, batch: int = 100, publish=None):
        self.store = store
        self.publish = publish
        self.pending: deque[dict] = deque()
        self.recent: deque[dict] = deque(maxlen=1000)
        self.max_pending = max_pending
        self.batch = batch
        self.dropped = 0
        self.flood = FloodLog(log, "decision log", interval=60.0, level=logging.ERROR)
        """Entries dropped because the store was away too long: one line a minute at most."""
        self.written = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._flushing = asyncio.Lock()
        self.restored = 0
        self._on_restored: Callable[[], None] | None = None

    def restore(self, entries: list[dict], on_written: Callable[[], None] | None = None) -> None:
        """Entries from the spool, ahead of anything new; `on_written` once they are all in the store."""
        self.pending.extendleft(reversed(entries))
        self.restored += len(entries)
        self._on_restored = on_written
        self._wake.set()

    def add(self, e: dict) -> None:
        if len(self.pending) >= self.max_pending:
            dropped = self.pending.popleft()
            self.dropped += 1
            self._written(1)
            self.flood.note(DROPPED, f"{self.max_pending:,} wait for the store; the oldest, {dropped.get('id')}, "
                                     "is gone (the calls were routed; their log entries are lost)")
        self.pending.append(e)
        self.recent.append(e)
        self._wake.set()
        if self.publish is not None:
            self.publish({"type": "decision", "decision": e})

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="decision-log")

    async def stop(self, seconds: float = 2.0) -> None:
        """A last flush within `seconds`; what the store did not take stays in `pending` (for the spool)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            async with asyncio.timeout(seconds):
                await self.flush()
        except Exception as e:
            log.error("decision log: %d entries not written at shutdown (%s)", len(self.pending), e)

    def _written(self, n: int) -> None:
        if self.restored:
            self.restored = max(0, self.restored - n)
            if not self.restored and self._on_restored is not None:
                self._on_restored()

    async def flush(self) -> None:
        """Write everything pending; raises if the store refuses (entries stay pending)."""
        async with self._flushing:  # the writer task and a shutdown may flush at once
            await self._flush()

    async def _flush(self) -> None:
        while self.pending:
            n = min(self.batch, len(self.pending))
            chunk = [self.pending[i] for i in range(n)]
            history = [(e["caller"]["number"], e["call"]["uniqueid"] or e["id"], e["at"]) for e in chunk
                       if e.get("history_pending") and e.get("caller", {}).get("number")]
            await self.store.append_decisions(chunk, history)
            for _ in range(n):
                self.pending.popleft()
            self.written += n
            self._written(n)

    async def _run(self) -> None:
        await write_forever(self._wake, self.flush, lambda: len(self.pending), log, "decision log",
                            gather=GATHER_SECONDS)

    async def newest(self, limit: int) -> list[dict]:
        """From the store; from memory while the store is unreachable."""
        return (await self.page(None, limit))[0]

    async def page(self, before: str | None, limit: int) -> tuple[list[dict], str | None]:
        """Up to `limit` decisions older than the log entry `before` (None: the newest, those not written yet
        first), each with its outcome once known; and the log entry to go on from (None: no more, or the
        store is unreachable and the newest come from memory)."""
        try:
            async with asyncio.timeout(READ_BUDGET):
                found, more = await self.store.decisions_before(before, limit)
        except Exception:
            return (list(reversed(self.recent))[:limit] if before is None else []), None
        unsaved: list[dict] = []
        if before is None:
            have = {e["id"] for _, e in found}
            unsaved = [e for e in reversed(self.pending) if e["id"] not in have][:limit]
        shown = found[:limit - len(unsaved)]
        entries = unsaved + [e for _, e in shown]
        next_entry = shown[-1][0] if shown and (more or len(shown) < len(found)) else None
        try:
            async with asyncio.timeout(READ_BUDGET):
                outcomes = await self.store.outcomes_for([e["id"] for e in entries])
        except Exception:
            outcomes = {}
        for e in entries:
            if e["id"] in outcomes:
                e["outcome"] = outcomes[e["id"]]
        return entries, next_entry
