"""What the store has not taken yet, across a restart: spooled at shutdown, replayed at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence

from router.asterisk.ami import Listener
from router.asterisk.calltracker import Outcome
from router.outbox.message import Message
from router.service import Router
from router.state.spool import Spool

log = logging.getLogger("router.spool")


class Backlog:
    """Replays the spool into the decision log and the outcome path; spools what is left at shutdown."""

    def __init__(self, router: Router, spool: Spool):
        self.router = router
        self.spool = spool
        self.outcomes: deque[dict] = deque()  # {"outcome": …} / {"followup": …} records still to write
        self._decisions_done = True
        self._task: asyncio.Task | None = None

    def restore(self) -> None:
        records = self.spool.load()
        if not records:
            return
        decisions = [r["decision"] for r in records if "decision" in r]
        self.outcomes.extend(r for r in records if "outcome" in r or "followup" in r)
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
            rec = self.outcomes[0]
            try:
                if "outcome" in rec:
                    if await self.router.store.record_outcome(rec["outcome"]):
                        self.outcomes[0] = rec = {"followup": rec["outcome"]}
                    else:
                        self.outcomes.popleft()  # written before the restart
                        continue
                await self.router.on_outcome(rec["followup"])
            except asyncio.CancelledError:
                raise
            except Exception as e:
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
        records = [{"decision": e} for e in self.router.log.pending]
        records += [{"message": m.record()} for m in messages]
        records += list(self.outcomes)
        if listener is not None:
            for kind, item in listener.pending:
                if kind == "outcome" and isinstance(item, Outcome):
                    records.append({"outcome": item.as_dict()})
                elif kind == "recorded":
                    records.append({"followup": item})
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
