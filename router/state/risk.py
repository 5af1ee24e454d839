"""Customer events and risk: each number's dated events, its precomputed risk, the at-risk list.

Events are written once per id (a batch sent twice counts once) and trimmed past the rule
file's `risk.keep_events`; a number's risk is recomputed in a transaction watching its keys,
so concurrent writers (several routers, the API and AMI) never lose an update.
"""

from __future__ import annotations

from collections.abc import Callable

from redis.exceptions import WatchError

from router.state.base import Command, StoreBase


class RiskMixin(StoreBase):
    async def add_events(self, number: str, events: list[tuple[str, float, str]], keep_since: float,
                         now: float) -> int:
        """(id, time, packed) events into the number's history, each id once (whoever adds an id first
        writes the event), events older than `keep_since` trimmed; how many were new."""
        ids_key = self.k.event_ids(number)
        p = self.r.pipeline(transaction=False)
        for event_id, at, _ in events:
            p.zadd(ids_key, {event_id: at}, nx=True)
        fresh = [e for e, added in zip(events, await p.execute(), strict=True) if added]
        await self.pooled(self._event_writes(number, fresh, keep_since, now))
        return len(fresh)

    def call_event_writes(self, number: str, event_id: str, at: float, packed: str, keep_since: float,
                          now: float) -> list[Command]:
        """One event taken without asking whether it is new (its caller knows it is): `add_events`'s writes."""
        return [("ZADD", self.k.event_ids(number), "NX", at, event_id),
                *self._event_writes(number, [(event_id, at, packed)], keep_since, now)]

    def _event_writes(self, number: str, fresh: list[tuple[str, float, str]], keep_since: float,
                      now: float) -> list[Command]:
        """New (id, time, packed) events into the number's history, and what has aged out trimmed."""
        ids_key, events_key = self.k.event_ids(number), self.k.events(number)
        writes: list[Command] = []
        if fresh:
            writes.append(("ZADD", events_key, *(x for _, at, packed in fresh for x in (at, packed))))
        writes += [("ZREMRANGEBYSCORE", events_key, "-inf", f"({keep_since}"),
                   ("ZREMRANGEBYSCORE", ids_key, "-inf", f"({keep_since}")]
        if fresh:  # a number with no new events for the whole retention leaves nothing behind
            ttl = int(now - keep_since) + 1
            writes += [("EXPIRE", events_key, ttl), ("EXPIRE", ids_key, ttl)]
        return writes

    async def update_risk(self, number: str, since: float,
                          compute: Callable[[list[str], dict, int], dict]) -> tuple[dict, dict]:
        """Recompute the number's risk from its events and open follow-up, atomically against other writers.

        `compute(events, stored, followup_calls)` returns the fields to store ({} removes the state);
        returns (stored before, stored now).
        """
        k = self.k
        async with self.r.pipeline(transaction=True) as p:
            while True:
                # the open follow-up's task hash lives in another slot: read before watching the number's keys
                task_id = await self.r.hget(k.state(number), "followup")
                calls = int(await self.r.hget(k.task(task_id), "count") or 1) if task_id else 0
                try:
                    await p.watch(k.events(number), k.state(number), k.risk(number))
                    if await p.hget(k.state(number), "followup") != task_id:
                        await p.reset()
                        continue
                    events = await p.zrangebyscore(k.events(number), since, "+inf")
                    old = await p.hgetall(k.risk(number))
                    new = compute(events, old, calls)
                    p.multi()
                    p.delete(k.risk(number))
                    if new:
                        p.hset(k.risk(number), mapping=new)
                        p.expire(k.risk(number), self.retention.numbers)
                    await p.execute()
                    return old, new
                except WatchError:
                    continue

    async def set_risk_listing(self, number: str, since: float | None, due: float | None) -> None:
        """The number in (or out of) the at-risk list, and when its state must be computed again."""
        p = self.r.pipeline(transaction=False)
        if since is None:
            p.zrem(self.k.risk_list, number)
        else:
            p.zadd(self.k.risk_list, {number: since})
        if due is None:
            p.zrem(self.k.risk_due, number)
        else:
            p.zadd(self.k.risk_due, {number: due})
        await p.execute()

    async def risk_due(self, now: float, limit: int = 1000) -> list[str]:
        return await self.r.zrangebyscore(self.k.risk_due, "-inf", now, start=0, num=limit)

    async def risk_listed(self, since: float = float("-inf"), until: float = float("inf"),
                          limit: int = 10_000) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        """(number, risk state, customer record) of the at-risk numbers that entered the list in [since, until]."""
        numbers = await self.r.zrangebyscore(self.k.risk_list, since, until, start=0, num=limit)
        p = self.r.pipeline(transaction=False)
        for n in numbers:
            p.hgetall(self.k.risk(n))
            p.hgetall(self.k.customer(n))
        got = await p.execute()
        return [(n, got[2 * i], got[2 * i + 1]) for i, n in enumerate(numbers)]
