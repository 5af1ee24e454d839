"""Forgetting one person: everything the store holds about a number, erased (personal-data laws).

What a number leaves behind, and where:
- its own keys (`cr:{NUMBER}:…`): directory record, state, history, events, risk, CRM cache, and
  the contract that points at it;
- the at-risk list (both its orders) and the risk sweep's schedule;
- its tasks (open and closed) with their logs, and the outgoing messages queued for them;
- the report's raw call records (the day counters are sums and name nobody: they stay);
- the decision log, each day's log that replay reads, the outcome stream and the live events, and
  each decision's facts and outcome;
- the once-only claims of its calls' outcomes and its SMS window.

An admin command, not a call's work: it reads the logs in batches and never blocks Redis long.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson

from router.state.base import StoreBase
from router.state.replies import mapping

BATCH = 1000
"""Entries read per round trip while looking through the logs and task lists."""


@dataclass(slots=True)
class Erased:
    """What `forget_number` removed, for the admin's log line."""

    keys: int = 0
    tasks: int = 0
    messages: int = 0
    calls: int = 0
    log_entries: int = 0


class ErasureMixin(StoreBase):
    async def forget_number(self, number: str, days: list[str]) -> Erased:
        """Erase `number` everywhere; `days` are the company days whose raw calls (and logs) the store keeps."""
        k = self.k
        erased = Erased()
        contract = await self.r.hget(k.customer(number), "contract")
        if contract and await self.r.get(k.contract(contract)) == number:
            erased.keys += await self.r.delete(k.contract(contract))
        own = [k.customer(number), k.state(number), k.crm(number), k.inbound(number), k.newest(number),
               k.events(number), k.event_ids(number), k.risk(number), k.outbox_once(f"sms:{number}")]
        erased.keys += await self.r.delete(*own)
        await self.r.zrem(k.risk_list, number)
        await self.r.zrem(k.risk_rank, number)
        await self.r.zrem(k.risk_due, number)
        for tasks in (k.tasks_open, k.tasks_closed):
            async for ids in self._batches(tasks):
                p = self.r.pipeline(transaction=False)
                for task_id in ids:
                    p.hget(k.task(task_id), "number")
                mine = [t for t, n in zip(ids, await p.execute(), strict=True) if n == number]
                for task_id in mine:
                    erased.messages += await self._drop_task_messages(task_id)
                    await self.r.delete(k.task(task_id), k.task_log(task_id))
                    await self.r.zrem(tasks, task_id)
                erased.tasks += len(mine)
        for day in days:
            records = mapping(await self.r.hgetall(k.calls_day(day)))
            mine = [key for key, raw in records.items() if orjson.loads(raw).get("number") == number]
            if mine:
                erased.calls += await self.r.hdel(k.calls_day(day), *mine)
                await self.r.hdel(k.recalls_day(day), *mine)  # when the number called again after them
            erased.log_entries += await self._drop_log_entries(k.decisions_day(day), "d", number)
        erased.log_entries += await self._drop_log_entries(k.decisions, "d", number)
        erased.log_entries += await self._drop_log_entries(k.outcomes, "o", number)
        erased.log_entries += await self._drop_log_entries(k.live, "e", number)
        async for key in self.r.scan_iter(match=f"{k.prefix}:seen:*:{number}", count=BATCH):
            erased.keys += await self.r.delete(key)
        return erased

    async def _batches(self, key: str) -> AsyncIterator[list[str]]:
        start = 0
        while ids := await self.r.zrange(key, start, start + BATCH - 1):
            yield ids
            start += BATCH

    async def _drop_task_messages(self, task_id: str) -> int:
        """Queued messages of a forgotten person's task are never sent."""
        k = self.k
        dropped = 0
        async for queue in self.r.scan_iter(match=k.outbox_queue(f"{task_id}:*"), count=BATCH):
            ids = await self.r.lrange(queue, 0, -1)
            group = queue.removeprefix(k.outbox_queue(""))
            p = self.r.pipeline(transaction=True)
            for message_id in ids:
                p.delete(k.outbox_message(message_id))
                p.zrem(k.outbox_all, message_id)
            p.delete(queue)
            p.zrem(k.outbox_due, group)
            await p.execute()
            dropped += len(ids)
        return dropped

    async def _drop_log_entries(self, stream: str, field: str, number: str) -> int:
        """Entries of a stream (decisions `d`, outcomes `o`, live events `e`) that name the number (as a
        JSON string: `"+7916…"`, so that a longer number holding it is not matched), and their side keys."""
        quoted = orjson.dumps(number).decode()
        dropped = 0
        start = "-"
        while rows := await self.r.xrange(stream, start, "+", count=BATCH):
            mine = []
            for entry_id, fields in rows:
                raw = fields.get(field) or "{}"
                if quoted not in raw:
                    continue
                mine.append(entry_id)
                doc = orjson.loads(raw)
                decision = doc.get("id") if field == "d" else doc.get("decision") if field == "o" else None
                if decision:
                    await self.r.delete(self.k.decision(decision), self.k.outcome(decision))
            if mine:
                dropped += await self.r.xdel(stream, *mine)
            if len(rows) < BATCH:
                break
            start = "(" + rows[-1][0]
        return dropped
