"""The report's counters and raw calls: written with each outcome, corrected when a call is retyped.

A call adds a few counter increments to its company day's hash and its raw record to the day's
calls hash (router/reports/tally.py says what each field means); both expire after the
retention the rule file gives (`report.keep_days`, `report.keep_calls`).
"""

from __future__ import annotations

import orjson

from router.asterisk.agentstates import AgentNow, Mark, Span
from router.reports.agenttally import AgentLogRow, log_rows, mark_counters, merged, span_counters
from router.reports.tally import Calendar, Tally, day_of, retype
from router.state.base import Command, StoreBase
from router.state.keys import OUTCOME_KEEP_SECONDS, Keys, Retention
from router.state.replies import mapping


def tally_writes(k: Keys, cal: Calendar, retention: Retention, t: Tally) -> list[Command]:
    """The commands that add one finished call to its day's counters and raw calls."""
    counters, calls = k.report_day(t.day), k.calls_day(t.day)
    writes: list[Command] = [("HINCRBY", counters, name, n) for name, n in t.counters.items()]
    writes += [("EXPIRE", counters, cal.keep_days), ("HSET", calls, t.key, orjson.dumps(t.record)),
               ("EXPIRE", calls, cal.keep_calls)]
    for day, more in t.earlier.items():
        writes += [("HINCRBY", k.report_day(day), name, n) for name, n in more.items()]
    if t.recall is not None:
        day, key, seconds = t.recall
        writes += [("HSETNX", k.recalls_day(day), key, seconds), ("EXPIRE", k.recalls_day(day), cal.keep_calls)]
    number = t.record["number"]
    if number.startswith("+"):
        if t.state:
            writes += [("HSET", k.state(number), *(x for kv in t.state.items() for x in kv)),
                       ("EXPIRE", k.state(number), retention.numbers)]
        if t.clear:
            writes.append(("HDEL", k.state(number), *t.clear))
    return writes


def days_around(decision_id: str, cal: Calendar) -> list[str]:
    """The company day a decision id was made on (its first 11 hex digits are its time in ms), then the next:
    a call that began just before midnight is counted on the day its decision was made."""
    try:
        at = int(decision_id[:11], 16) / 1000
    except ValueError:
        return []
    return [day_of(at, cal.zone), day_of(at + 86400, cal.zone)]


class ReportMixin(StoreBase):
    async def count(self, day: str, counters: dict[str, int]) -> None:
        """Add to one day's report counters (follow-ups opened and closed)."""
        p = self.r.pipeline(transaction=False)
        for name, n in counters.items():
            p.hincrby(self.k.report_day(day), name, n)
        p.expire(self.k.report_day(day), self.calendar.keep_days)
        await p.execute()

    async def set_call_type(self, decision_id: str, call_type: str, by: str, at: float) -> dict | None:
        """Set or correct a routed call's type: on its decision (an outcome still to come takes it) and, when the
        call is already counted, on its record and its day's counters. None if the call is unknown."""
        meta_key = self.k.decision(decision_id)
        raw = await self.r.get(meta_key)
        found: dict | None = None
        if raw:
            meta = orjson.loads(raw)
            meta |= {"type": call_type, "type_by": by}
            await self.r.set(meta_key, orjson.dumps(meta), keepttl=True)
            found = {"decision": decision_id, "type": call_type, "counted": False}
        for day in days_around(decision_id, self.calendar):
            calls = self.k.calls_day(day)
            rec_raw = await self.r.hget(calls, decision_id)
            if not rec_raw:
                continue
            record = orjson.loads(rec_raw)
            changes = retype(record, call_type)
            record |= {"type": call_type, "type_by": by, "type_at": round(at, 3)}
            p = self.r.pipeline(transaction=True)
            p.hset(calls, decision_id, orjson.dumps(record))
            for name, n in changes.items():
                p.hincrby(self.k.report_day(day), name, n)
            outcome_raw = await self.r.get(self.k.outcome(decision_id))
            if outcome_raw:
                p.set(self.k.outcome(decision_id),
                      orjson.dumps(orjson.loads(outcome_raw) | {"type": call_type}), keepttl=True)
            await p.execute()
            return {"decision": decision_id, "type": call_type, "counted": True, "day": day}
        return found

    async def record_agent_states(self, spans: list[Span], marks: list[Mark], now: dict[str, AgentNow]) -> None:
        """Queue members' states that ended (their durations on each day and hour they covered, and as the day's
        agent log), what happened to them, and their states now. Two round trips: each span and mark claimed
        (by its member, kind and end: routers that started at different times agree on where a state ended),
        then what this router claimed written."""
        claims = [self.k.agent_claim(s.agent, s.state, s.end) for s in spans]
        claims += [self.k.agent_claim(m.agent, m.kind, m.at) for m in marks]
        if claims:
            won = await self.pooled([("SET", claim, 1, "NX", "EX", OUTCOME_KEEP_SECONDS) for claim in claims])
            n = len(spans)
            spans = [s for s, ok in zip(spans, won[:n], strict=True) if ok]
            marks = [m for m, ok in zip(marks, won[n:], strict=True) if ok]
        writes: list[Command] = []
        zone = self.calendar.zone
        for day, counters in merged(span_counters(spans, zone), mark_counters(marks, zone)).items():
            writes += [("HINCRBY", self.k.report_day(day), name, n) for name, n in counters.items()]
            writes.append(("EXPIRE", self.k.report_day(day), self.calendar.keep_days))
        for day, rows in log_rows(spans, marks, zone).items():
            writes += [("RPUSH", self.k.agent_log_day(day), *(orjson.dumps(r) for r in rows)),
                       ("EXPIRE", self.k.agent_log_day(day), self.calendar.keep_calls)]
        for agent, state in now.items():
            writes.append(("HSET", self.k.agents_now, agent, orjson.dumps(state)))
        if writes:
            await self.pooled(writes)

    async def agent_log(self, day: str, start: int = 0, stop: int = -1) -> list[AgentLogRow]:
        """Rows `start`..`stop` of the day's agent log, oldest first as written."""
        return [orjson.loads(raw) for raw in await self.r.lrange(self.k.agent_log_day(day), start, stop)]

    async def agents_now(self) -> dict[str, AgentNow]:
        """Each queue member's state now, as the AMI listener last wrote it."""
        return {agent: orjson.loads(raw) for agent, raw in mapping(await self.r.hgetall(self.k.agents_now)).items()}

    async def report_counters(self, days: list[str]) -> list[dict[str, str]]:
        p = self.r.pipeline(transaction=False)
        for d in days:
            p.hgetall(self.k.report_day(d))
        return [mapping(x) for x in await p.execute()]

    async def calls_of(self, day: str) -> list[dict]:
        """The day's raw call records, oldest first."""
        found = mapping(await self.r.hgetall(self.k.calls_day(day)))
        return sorted((orjson.loads(v) for v in found.values()), key=lambda r: r["at"])

    async def call_order(self, day: str, batch: int = 1000) -> list[tuple[float, str]]:
        """(time, key) of the day's raw call records, oldest first: read `batch` at a time (HSCAN), so that
        an export of a busy day never arrives as one reply; the records are then read by `calls_by_key`."""
        order = [(float(orjson.loads(raw)["at"]), key)
                 async for key, raw in self.r.hscan_iter(self.k.calls_day(day), count=batch)]
        order.sort()
        return order

    async def calls_by_key(self, day: str, keys: list[str]) -> list[dict]:
        """The day's raw call records named, in the order named (one gone meanwhile is left out), each with
        `recalled_after_seconds` when the number called again after it."""
        if not keys:
            return []
        p = self.r.pipeline(transaction=False)
        p.hmget(self.k.calls_day(day), keys)
        p.hmget(self.k.recalls_day(day), keys)
        records, recalls = await p.execute()
        out = []
        for raw, recall in zip(records, recalls, strict=True):
            if raw:
                record = orjson.loads(raw)
                if recall is not None:
                    record["recalled_after_seconds"] = int(recall)
                out.append(record)
        return out
