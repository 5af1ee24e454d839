"""What the store has not taken yet, across a restart: spooled at shutdown, replayed at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

from router.asterisk.ami import Listener
from router.core.outcome import Outcome
from router.outbox.message import Message
from router.service import Router
from router.state.errors import STORE_ERRORS
from router.state.spool import Spool

log = logging.getLogger("router.spool")


class Backlog:
    """Replays the spool into the decision log and the outcome path; spools what is left at shutdown."""

    def __init__(self, router: Router, spool: Spool):
        self.router = router
        self.spool = spool
        self.outcomes: deque[tuple[Literal["outcome", "followup"], Outcome]] = deque()
        """Outcomes still to write, and written ones whose follow-up work is still to do."""
        self._decisions_done = True
        self._task: asyncio.Task | None = None

    def restore(self) -> None:
        records = self.spool.load()
        if not records:
            return
        decisions = [r["decision"] for r in records if "decision" in r]
        for r in records:
            if "outcome" in r:
                self.outcomes.append(("outcome", Outcome.from_record(r["outcome"])))
            elif "followup" in r:
                o = Outcome.from_record(r["followup"])
                o.event_written = bool(r.get("event_written"))
                self.outcomes.append(("followup", o))
        messages = [Message.from_record(r["message"]) for r in records if "message" in r]
        for m in messages:
            self.router.followups.outbox.post(m)  # queued in Redis before anything new
        log.info("spool %s: replaying %d decisions, %d call outcomes and %d outgoing messages left by the last "
                 "shutdown", self.spool.path, len(decisions), len(self.outcomes), len(messages))
        if decisions:
            self._decisions_done = False
            self.router.log.restore(decisions, self._decisions_written)
        if self.outcomes:
            self._task = asyncio.create_task(self._replay_outcomes(), name="spool-outcomes")

    def _decisions_written(self) -> None:
        self._decisions_done = True
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._decisions_done and not self.outcomes:
            self.spool.clear()
            log.info("spool %s: everything in it is in the store now", self.spool.path)

    async def _replay_outcomes(self) -> None:
        delay = 0.2
        while self.outcomes:
            stage, o = self.outcomes[0]
            try:
                if stage == "outcome":
                    if await self.router.store.record_outcome(o, self.router.risk.call_writes):
                        self.outcomes[0] = ("followup", o)
                    else:
                        self.outcomes.popleft()  # written before the restart
                        continue
                await self.router.on_outcome(o)
            except STORE_ERRORS as e:
                log.warning("spool: store refused a call outcome (%s); retrying in %.1f s", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.outcomes.popleft()
            delay = 0.2
        self._maybe_done()

    async def stop(self, listener: Listener | None, messages: Sequence[Message] = ()) -> int:
        """Spool everything not yet in the store; returns how many records were kept."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        records: list[dict[str, Any]] = [{"decision": e} for e in self.router.log.pending]
        records += [{"message": m.record()} for m in messages]
        left: list[tuple[str, Outcome]] = list(self.outcomes)
        for item in listener.pending if listener is not None else ():
            if item[0] == "outcome" or item[0] == "recorded":  # device states, pauses, members' states: read afresh
                left.append((item[0], item[1]))
        for stage, o in left:  # an outcome to write, or one written ("followup", "recorded") whose work waits
            if stage == "outcome":
                records.append({"outcome": o.record()})
            else:
                records.append({"followup": o.record(), "event_written": o.event_written})
        try:
            self.spool.save(records)
        except OSError as e:
            log.error("spool %s: cannot write (%s): %d decisions and outcomes are lost", self.spool.path, e,
                      len(records))
            return 0
        if records:
            log.warning("spool %s: %d decisions and call outcomes the store did not take are kept there "
                        "and written at the next start", self.spool.path, len(records))
        return len(records)
