"""Customer events and risk: each number's dated events, its precomputed risk, the at-risk list.

Events are written once per id (a batch sent twice counts once) and trimmed past the rule
file's `risk.keep_events`; a number's risk is recomputed in a transaction watching its keys,
so concurrent writers (several routers, the API and AMI) never lose an update.

The at-risk list is two sorted sets of the same numbers, written together: `risk_list` by when
each entered (for "who entered on that day") and `risk_rank` in the order people read it
(highest score first, then who entered first), so that a page of 100 out of 10,000 is one
range read and its details, never a read of the whole list. A store written by a router from
before `risk_rank` existed is indexed once by `reconcile_risk_rank` (the risk sweep calls it).
"""

from __future__ import annotations

from collections.abc import Callable

from redis.exceptions import WatchError

from router.state.base import Command, StoreBase

RANK_STEP = 1e10
"""Seconds that one point of score outweighs in `risk_rank`: more than any Unix time (year 2286)."""
BATCH = 500
"""Numbers read per round trip when the index is checked or a day's entrants are listed."""
DETAILS_BATCH = 100
"""Numbers whose details are read per round trip (a few milliseconds of the event loop's time each)."""
TASK_SUMMARY = ("id", "owner", "state", "deadline", "level", "taken_at")
"""What the at-risk list shows of a customer's retention task (and how many comments it has)."""

Ranked = tuple[float, str]
"""(rank, number): a number's place in the at-risk list."""


def risk_rank(score: float, since: float) -> float:
    """The list's order as one sorted-set score: a higher risk score first, then who entered first."""
    return since - score * RANK_STEP


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

    async def set_risk_listing(self, number: str, since: float | None, due: float | None,
                               score: float = 0) -> None:
        """The number in (or out of) the at-risk list with its `score`, and when its state must be computed
        again."""
        k = self.k
        p = self.r.pipeline(transaction=True)  # one slot: the list and its order never disagree
        if since is None:
            p.zrem(k.risk_list, number)
            p.zrem(k.risk_rank, number)
        else:
            p.zadd(k.risk_list, {number: since})
            p.zadd(k.risk_rank, {number: risk_rank(score, since)})
        if due is None:
            p.zrem(k.risk_due, number)
        else:
            p.zadd(k.risk_due, {number: due})
        await p.execute()

    async def risk_due(self, now: float, limit: int = 1000) -> list[str]:
        return await self.r.zrangebyscore(self.k.risk_due, "-inf", now, start=0, num=limit)

    async def risk_ranked(self, after: Ranked | None, count: int) -> list[Ranked]:
        """Up to `count` numbers of the at-risk list in its order, after `after` (a place given earlier)."""
        key = self.k.risk_rank
        if after is None:
            return [(score, n) for n, score in await self.r.zrange(key, 0, count - 1, withscores=True)]
        rank, number = after
        out: list[Ranked] = []
        offset = 0
        while len(out) < count:  # members sharing the cursor's rank come in number order: skip those given
            rows = await self.r.zrangebyscore(key, rank, "+inf", start=offset, num=count + 16, withscores=True)
            out += [(score, n) for n, score in rows if score > rank or n > number]
            offset += len(rows)
            if len(rows) < count + 16:
                break
        return out[:count]

    async def risk_entered(self, since: float, until: float) -> list[Ranked]:
        """The numbers that entered the list in [since, until] with their places, in the list's order."""
        numbers = await self.r.zrangebyscore(self.k.risk_list, since, until)
        ranked: list[Ranked] = []
        for i in range(0, len(numbers), BATCH):
            batch = numbers[i:i + BATCH]
            ranks = await self.r.zmscore(self.k.risk_rank, batch)
            ranked += [(rank, n) for n, rank in zip(batch, ranks, strict=True) if rank is not None]
        return sorted(ranked)

    async def risk_details(self, numbers: list[str]) -> list[tuple[dict[str, str], dict[str, str], dict]]:
        """(risk state, customer record, retention task summary or {}) of each number, two round trips for every
        DETAILS_BATCH numbers (the loop is free between them: a page of 500 is not read in one go)."""
        out: list[tuple[dict[str, str], dict[str, str], dict]] = []
        for i in range(0, len(numbers), DETAILS_BATCH):
            out += await self._risk_details(numbers[i:i + DETAILS_BATCH])
        return out

    async def _risk_details(self, numbers: list[str]) -> list[tuple[dict[str, str], dict[str, str], dict]]:
        k = self.k
        p = self.r.pipeline(transaction=False)
        for n in numbers:
            p.hgetall(k.risk(n))
            p.hgetall(k.customer(n))
        got = await p.execute()
        states, customers = got[0::2], got[1::2]
        tasks = [s.get("task", "") for s in states]
        p = self.r.pipeline(transaction=False)
        for task_id in tasks:
            if task_id:
                p.hmget(k.task(task_id), TASK_SUMMARY)
                p.llen(k.task_log(task_id))
        read = iter(await p.execute())
        summaries: list[dict] = []
        for task_id in tasks:
            if not task_id:
                summaries.append({})
                continue
            fields, comments = next(read), next(read)
            summaries.append({**dict(zip(TASK_SUMMARY, (v or "" for v in fields), strict=True)),
                              "comments": comments} if fields[0] else {})
        return list(zip(states, customers, summaries, strict=True))

    async def reconcile_risk_rank(self) -> int:
        """Make `risk_rank` hold exactly the numbers of `risk_list` (a store written before it existed, or by
        an older router alongside); how many were added or removed. One round trip when they agree."""
        k = self.k
        p = self.r.pipeline(transaction=False)
        p.zcard(k.risk_list)
        p.zcard(k.risk_rank)
        listed, ranked = await p.execute()
        if listed == ranked:
            return 0
        fixed = 0
        start = 0
        while numbers := await self.r.zrange(k.risk_list, start, start + BATCH - 1, withscores=True):
            start += BATCH
            have = await self.r.zmscore(k.risk_rank, [n for n, _ in numbers])
            missing = [(n, since) for (n, since), rank in zip(numbers, have, strict=True) if rank is None]
            if missing:
                p = self.r.pipeline(transaction=False)
                for n, _ in missing:
                    p.hget(k.risk(n), "score")
                scores = await p.execute()
                await self.r.zadd(k.risk_rank, {n: risk_rank(float(score or 0), since)
                                                for (n, since), score in zip(missing, scores, strict=True)})
                fixed += len(missing)
        start = 0
        while numbers := await self.r.zrange(k.risk_rank, start, start + BATCH - 1):
            listed_now = await self.r.zmscore(k.risk_list, numbers)
            gone = [n for n, since in zip(numbers, listed_now, strict=True) if since is None]
            if gone:
                await self.r.zrem(k.risk_rank, *gone)
                fixed += len(gone)
            start += BATCH - len(gone)
        return fixed
