"""What the caller's card reads: the number's keys in one round trip, and one decision found in the log.

Read after a phone starts ringing, off the call's path. The decision log is a stream whose entry
ids are the times they were written: a decision id begins with its time in milliseconds, and its
entry was written within moments of it (later only while the store was away), so it is looked for
from that time on, a bounded number of entries.
"""

from __future__ import annotations

import orjson

from router.core.risk import CALL
from router.state.base import StoreBase
from router.state.replies import mapping

CALLS_SHOWN = 5
EVENTS_READ = 100
"""The newest events of a number read for its last calls (ratings and visits are among them)."""
LOG_SEARCHED = 500


class CardsMixin(StoreBase):
    async def card_reads(self, number: str) -> dict:
        """The number's directory record, state, risk and last calls, in one round trip."""
        k = self.k
        p = self.r.pipeline(transaction=False)
        p.hgetall(k.customer(number))
        p.hgetall(k.state(number))
        p.hgetall(k.risk(number))
        p.zrevrange(k.events(number), 0, EVENTS_READ - 1)
        customer, state, risk, events = await p.execute()
        calls = []
        for raw in events:
            e = orjson.loads(raw)
            if e.get("k") == CALL:
                calls.append({"at": float(e["t"]), "direction": e.get("d", ""), "result": e.get("r", ""),
                              "type": e.get("ty", "")})
                if len(calls) == CALLS_SHOWN:
                    break
        return {"customer": mapping(customer), "state": mapping(state), "risk": mapping(risk), "calls": calls}

    async def decision_entry(self, decision_id: str) -> dict | None:
        """The decision-log entry of `decision_id`, or None (unknown, or trimmed from the log)."""
        try:
            ms = int(decision_id[:11], 16)
        except ValueError:
            return None
        rows = await self.r.xrange(self.k.decisions, min=f"{ms}-0", count=LOG_SEARCHED)
        for _, fields in rows:
            e = orjson.loads(fields["d"])
            if e.get("id") == decision_id:
                return e
        return None
