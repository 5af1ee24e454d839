"""Decisions: the decision log (a bounded stream) and the facts follow-ups and the report need of each.

The log is appended in batches off the call's path (router/state/decisionlog.py keeps what
waits); each decision also leaves a small record (`Keys.decision`: rule, first step, kind,
class, type) for two days, read when its call's outcome arrives.
"""

from __future__ import annotations

import orjson

from router.state.base import Command, StoreBase
from router.state.keys import DECISION_LOG_MAXLEN, DECISION_META_SECONDS


class DecisionsMixin(StoreBase):
    async def append_decisions(self, entries: list[dict],
                               history: list[tuple[str, str, float]] | tuple = ()) -> None:
        """Decisions into the log, and (number, call id, time) of calls whose history the router
        could not write at decision time, all in one round trip."""
        key = self.k.decisions
        commands: list[Command] = []
        for number, call_id, at in history:
            commands += self.inbound_writes(number, call_id, at)
        for e in entries:
            # `i`: the instance, so that every router's feed skips its own decisions without decoding them
            commands.append(("XADD", key, "MAXLEN", "~", DECISION_LOG_MAXLEN, "*", "d", orjson.dumps(e),
                             "i", self.instance))
            caller = e.get("caller") or {}
            meta = {"rule": e["rule"], "step": e["steps"][0]["name"] if e["steps"] else "",
                    "kind": caller.get("kind", ""), "abc": caller.get("abc", ""), "type": e.get("type", ""),
                    "at": e["at"], "manager": caller.get("manager", ""), "prospect": e.get("prospect", False),
                    "dnid": (e.get("call") or {}).get("dnid", ""),
                    "queue": next((s["dest"] for s in e["steps"] if s["type"] == "queue"), "")}
            # NX: a type set by hand before the log caught up is not overwritten
            commands.append(("SET", self.k.decision(e["id"]), orjson.dumps(meta), "NX", "EX",
                             DECISION_META_SECONDS))
            number = caller.get("number", "")
            if e.get("prospect") and number.startswith("+"):
                # a new caller becomes a prospect unless a conversation was already answered (prospect=0)
                commands += [("HSETNX" if caller.get("kind") == "new" else "HSET", self.k.state(number),
                              "prospect", 1), self.kept(self.k.state(number))]
        await self.pooled(commands)

    async def decision_meta(self, decision_id: str) -> dict:
        raw = await self.r.get(self.k.decision(decision_id)) if decision_id else None
        return orjson.loads(raw) if raw else {}

    async def recent_decisions(self, limit: int) -> list[dict]:
        """Newest first. A batch retried after Redis died between applying it and answering is in the
        stream twice: the second copy is skipped."""
        return [e for _, e in (await self.decisions_before(None, limit))[0]]

    async def decisions_before(self, before: str | None, limit: int) -> tuple[list[tuple[str, dict]], bool]:
        """(log entry id, decision) of up to `limit` decisions older than the log entry `before` (None: from the
        newest), newest first; and whether the log may hold more."""
        rows = await self.r.xrevrange(self.k.decisions, max=f"({before}" if before else "+", count=limit)
        seen: set[str] = set()
        out = []
        for entry_id, fields in rows:
            e = orjson.loads(fields["d"])
            if e["id"] not in seen:
                seen.add(e["id"])
                out.append((entry_id, e))
        return out, len(rows) == limit
