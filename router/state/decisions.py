"""Decisions: the decision log (a bounded stream), each company day's log for replay, the calls each rule
decided per day, and the facts follow-ups and the report need of each decision.

The log is appended in batches off the call's path (router/state/decisionlog.py keeps what
waits). Each decision goes to the live log (`Keys.decisions`, the newest DECISION_LOG_MAXLEN,
what the pages read) and, with its replay record, to its company day's stream
(`Keys.decisions_day`, kept `report.keep_calls` after the day's last write: what replay reads,
never the live log), and counts one for its rule on that day (`Keys.rule_hits`, kept
`report.keep_days`: what coverage reads). It also leaves a small record (`Keys.decision`: rule,
first step, kind, class, type) for two days, read when its call's outcome arrives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import orjson

from router.core.facts import DecisionFacts
from router.core.replayrecord import logged
from router.reports.tally import day_of
from router.state.base import Command, StoreBase
from router.state.keys import DECISION_LOG_MAXLEN, DECISION_META_SECONDS
from router.state.replies import mapping

READ_CHUNK = 1000
"""Entries or fields per command when a day is read back: each command holds Redis for about a
millisecond, so the calls' round trips never wait behind a whole day."""


class DecisionsMixin(StoreBase):
    async def append_decisions(self, entries: list[dict],
                               history: list[tuple[str, str, float]] | tuple = ()) -> None:
        """Decisions into the log, and (number, call id, time) of calls whose history the router
        could not write at decision time, all in one round trip."""
        key = self.k.decisions
        commands: list[Command] = []
        for number, call_id, at in history:
            commands += self.inbound_writes(number, call_id, at)
        hits: Counter[tuple[str, str]] = Counter()
        for e in entries:
            day = day_of(e["at"], self.calendar.zone)
            hits[day, e["rule"]] += 1
            commands.append(("XADD", self.k.decisions_day(day), "*", "d", orjson.dumps(logged(e))))
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
        for (day, rule), n in hits.items():
            commands.append(("HINCRBY", self.k.rule_hits(day), rule, n))
        for day in {day for day, _ in hits}:
            commands += [("EXPIRE", self.k.decisions_day(day), self.calendar.keep_calls),
                         ("EXPIRE", self.k.rule_hits(day), self.calendar.keep_days)]
        await self.pooled(commands)

    async def decision_meta(self, decision_id: str) -> DecisionFacts:
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

    async def decisions_of(self, day: str) -> AsyncIterator[list[dict]]:
        """One company day's logged decisions (router/core/replayrecord.py `logged`), in the order they were
        written, READ_CHUNK at a time. A batch written twice (Redis died between applying it and answering)
        repeats its entries: the reader skips ids it has seen."""
        key = self.k.decisions_day(day)
        start = "-"
        while True:
            rows = await self.r.xrange(key, min=start, count=READ_CHUNK)
            if not rows:
                return
            yield [orjson.loads(fields["d"]) for _, fields in rows]
            if len(rows) < READ_CHUNK:
                return
            start = "(" + rows[-1][0]

    async def rule_hits(self, days: list[str]) -> list[dict[str, int]]:
        """Per day, rule name -> calls it decided."""
        p = self.r.pipeline(transaction=False)
        for d in days:
            p.hgetall(self.k.rule_hits(d))
        return [{rule: int(n) for rule, n in mapping(x).items()} for x in await p.execute()]

    async def call_records(self, day: str, decision_ids: list[str]) -> dict[str, dict]:
        """The report's raw records (router/reports/tally.py) of these routed calls of one day, by decision id:
        `result` says answered or missed, `ring_seconds` how long it rang. Calls not ended yet are absent."""
        found: dict[str, dict] = {}
        key = self.k.calls_day(day)
        for i in range(0, len(decision_ids), READ_CHUNK):
            chunk = decision_ids[i:i + READ_CHUNK]
            for d, raw in zip(chunk, await self.r.hmget(key, chunk), strict=True):
                if raw:
                    found[d] = orjson.loads(raw)
        return found
