"""Callbacks in the store: one claim per customer across routers, the rate limits, each attempt on its task.

A claim is one transaction on keys of the `{tasks}` slot (a Cluster keeps it on one node), watching the task,
the number's lock and the counters, so that between reading and claiming nothing can change unseen:
- the task is re-read: a task closed meanwhile (answered, closed by hand) is never dialled;
- the number's lock (`Keys.callback_lock`, set with an expiry) must be free: one customer is never dialled by
  two agents at once, whichever routers they use; so must the agent's (`Keys.callback_agent`): one phone is
  never rung for two callbacks at once;
- fewer than `max_at_once` numbers are being dialled (`Keys.callbacks_active`, expired ones dropped first) and
  fewer than `per_minute` callbacks were started this minute (`Keys.callbacks_minute`);
then the lock is taken and the attempt is counted on the task (`callback_attempts`, `callback_last`).
A claim that loses a race to another router (WatchError) is tried again a few times, then reads as `busy`.
"""

from __future__ import annotations

from typing import Literal

import orjson
from redis.exceptions import WatchError

from router.state.base import StoreBase

Claim = Literal["ok", "closed", "busy", "agent_busy", "at_once", "per_minute"]
CLAIM_TRIES = 5
"""Times a claim is retried when another router changed one of its keys between the read and the write."""


class CallbacksMixin(StoreBase):
    async def claim_callback(self, task_id: str, number: str, device: str, token: str, now: float, hold: float,
                             ring: float, max_at_once: int, per_minute: int, text: str) -> tuple[Claim, int]:
        """Claim `number` for one callback of task `task_id` rung through `device`: ("ok", attempt number) or
        why not (and 0). The agent's phone is claimed for `ring` seconds (until it has answered or not)."""
        k = self.k
        task_key, lock, minute = k.task(task_id), k.callback_lock(number), k.callbacks_minute(int(now // 60))
        agent = k.callback_agent(device)
        now_ms = int(now * 1000)
        for _ in range(CLAIM_TRIES):
            async with self.r.pipeline(transaction=True) as p:
                try:
                    await p.watch(task_key, lock, agent, k.callbacks_active, minute)
                    state, task_number, attempts = await p.hmget(task_key, ["state", "number", "callback_attempts"])
                    if state != "open" or task_number != number:
                        return "closed", 0
                    if await p.exists(lock):
                        return "busy", 0
                    if await p.exists(agent):
                        return "agent_busy", 0
                    active = await p.zcount(k.callbacks_active, now_ms, "+inf")
                    if active >= max_at_once:
                        return "at_once", 0
                    if int(await p.get(minute) or 0) >= per_minute:
                        return "per_minute", 0
                    attempt = int(attempts or 0) + 1
                    p.multi()
                    p.zremrangebyscore(k.callbacks_active, "-inf", now_ms - 1)
                    p.set(lock, token, px=int(hold * 1000))
                    p.set(agent, token, px=int(ring * 1000))
                    p.zadd(k.callbacks_active, {number: now_ms + int(hold * 1000)})
                    p.incr(minute)
                    p.expire(minute, 120)
                    p.hset(task_key, mapping={"callback_attempts": attempt, "callback_last": now,
                                              "last_staff_action": now})
                    p.rpush(k.task_log(task_id), orjson.dumps({"at": now, "text": f"{text} (attempt {attempt})"}))
                    await p.execute()
                    return "ok", attempt
                except WatchError:
                    continue
        return "busy", 0

    async def release_agent(self, device: str, token: str) -> None:
        """The agent's phone gave up or answered: it may be rung for another callback (its state says when)."""
        if await self.r.get(self.k.callback_agent(device)) == token:
            await self.r.delete(self.k.callback_agent(device))

    async def release_callback(self, number: str, token: str | None = None) -> str | None:
        """The callback of `number` is over: free its lock (only `token`'s, when given). The lock's token, None if
        it was not held (another router freed it first)."""
        k = self.k
        lock = k.callback_lock(number)
        p = self.r.pipeline(transaction=True)
        p.get(lock)
        p.delete(lock)
        p.zrem(k.callbacks_active, number)
        if token is not None and await self.r.get(lock) != token:
            return None
        held, deleted, _ = await p.execute()
        return held if deleted else None

    async def callback_result(self, task_id: str, at: float, text: str) -> None:
        """What an attempt came to, on its task (`callback_result` and a line in its log)."""
        p = self.r.pipeline(transaction=False)
        p.hset(self.k.task(task_id), "callback_result", text[:200])
        p.rpush(self.k.task_log(task_id), orjson.dumps({"at": at, "text": text}))
        await p.execute()

    async def dialling(self, number: str) -> bool:
        return bool(await self.r.exists(self.k.callback_lock(number)))

    # held places: a caller who pressed 1 in a queue

    async def hold_place(self, queue: str, number: str, since: float, at: float, task_id: str) -> bool:
        """Keep `number`'s place in `queue`, ranked by when he began waiting; False if he holds one already."""
        k = self.k
        if not await self.r.zadd(k.held_places(queue), {number: since}, nx=True):
            return False
        await self.r.hset(k.held_place(number), mapping={"queue": queue, "since": since, "at": at, "task": task_id})
        return True

    async def held_places(self, queue: str) -> list[tuple[str, float]]:
        """The numbers holding a place in `queue`, the longest waiting first."""
        return [(n, float(t)) for n, t in await self.r.zrange(self.k.held_places(queue), 0, -1, withscores=True)]

    async def held_place(self, number: str) -> dict[str, str]:
        return await self.r.hgetall(self.k.held_place(number))

    async def drop_held_place(self, number: str) -> bool:
        k = self.k
        queue = await self.r.hget(k.held_place(number), "queue")
        if queue is None:
            return False
        p = self.r.pipeline(transaction=True)
        p.zrem(k.held_places(queue), number)
        p.delete(k.held_place(number))
        await p.execute()
        return True
