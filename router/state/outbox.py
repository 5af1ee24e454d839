"""The outbox in Redis: queued messages, grouped and ordered, claimed by one router at a time.

- `Keys.outbox_message(id)` holds a message; `Keys.outbox_queue(group)` its group's ids in order;
  `Keys.outbox_due` the groups by when their first message is next tried; `Keys.outbox_all` every
  queued id by when it was queued (the depth and the oldest message's age).
- A router sends a group's first message only while it holds the group's lease (SET NX PX): with
  several routers each message is tried by one at a time. A router that dies mid-send leaves the
  lease to expire; another then tries again (at least once: HTTP targets get an Idempotency-Key).
- A message is removed only once it is sent or given up on: an outage, a restart or a crash
  never loses one.
"""

from __future__ import annotations

import orjson
from redis.exceptions import WatchError

from router.outbox.message import Message
from router.state.base import StoreBase

DEAD_KEEP = 1000
"""Messages given up on that stay readable (newest first); older ones are only in the log."""


class OutboxMixin(StoreBase):
    async def queue_message(self, m: Message, due: float) -> bool:
        """Queue `m` at the end of its group; False (nothing queued) when its `once` is taken."""
        k = self.k
        if m.once and not await self.r.set(k.outbox_once(m.once), m.id, nx=True,
                                           ex=max(1, int(m.expires - m.created) + m.once_for)):
            return False
        p = self.r.pipeline(transaction=True)
        p.hset(k.outbox_message(m.id), mapping=m.fields())
        p.rpush(k.outbox_queue(m.group), m.id)
        p.zadd(k.outbox_all, {m.id: m.created})
        p.zadd(k.outbox_due, {m.group: due}, nx=True)  # a group backing off keeps its time
        await p.execute()
        return True

    async def due_groups(self, now: float, limit: int) -> list[str]:
        return await self.r.zrangebyscore(self.k.outbox_due, "-inf", now, start=0, num=limit)

    async def lease_group(self, group: str, owner: str, seconds: float) -> bool:
        return bool(await self.r.set(self.k.outbox_lease(group), owner, nx=True, px=int(seconds * 1000)))

    async def release_group(self, group: str) -> None:
        await self.r.delete(self.k.outbox_lease(group))

    async def first_message(self, group: str) -> Message | None:
        """The group's first message; None (and the group off the due set) when it has none left."""
        k = self.k
        queue = k.outbox_queue(group)
        while True:
            message_id = await self.r.lindex(queue, 0)
            if message_id is not None:
                fields = await self.r.hgetall(k.outbox_message(message_id))
                if fields:
                    return Message.from_fields(fields)
                await self.r.lrem(queue, 1, message_id)  # its hash is gone (taken by hand): skip it
                continue
            async with self.r.pipeline(transaction=True) as p:
                try:
                    await p.watch(queue)
                    if await p.llen(queue):
                        continue  # one was queued meanwhile
                    p.multi()
                    p.zrem(k.outbox_due, group)
                    await p.execute()
                    return None
                except WatchError:
                    continue

    async def message_done(self, m: Message, now: float, once_for: int = 0, dead: dict | None = None) -> None:
        """`m` sent (its `once` then holds for `once_for` seconds) or given up on (`dead`: what to keep
        of it); the group's next message is due at once."""
        k = self.k
        p = self.r.pipeline(transaction=True)
        p.lrem(k.outbox_queue(m.group), 1, m.id)
        p.delete(k.outbox_message(m.id))
        p.zrem(k.outbox_all, m.id)
        p.zadd(k.outbox_due, {m.group: now}, xx=True)
        if m.once:
            if dead is None and once_for > 0:
                p.set(k.outbox_once(m.once), "sent", ex=once_for)
            else:
                p.delete(k.outbox_once(m.once))  # never sent: the next one may go
        if dead is not None:
            p.lpush(k.outbox_dead, orjson.dumps(dead))
            p.ltrim(k.outbox_dead, 0, DEAD_KEEP - 1)
        await p.execute()

    async def message_retry(self, m: Message, at: float, error: str) -> None:
        """One more failed attempt: the group waits until `at`."""
        k = self.k
        p = self.r.pipeline(transaction=True)
        p.hset(k.outbox_message(m.id), mapping={"attempts": m.attempts, "last_error": error[:500]})
        p.zadd(k.outbox_due, {m.group: at}, xx=True)
        await p.execute()

    async def set_blocked(self, channel: str, why: dict | None) -> None:
        if why is None:
            await self.r.hdel(self.k.outbox_blocked, channel)
        else:
            await self.r.hset(self.k.outbox_blocked, channel, orjson.dumps(why))

    async def outbox_state(self) -> tuple[int, float | None, dict[str, dict], int]:
        """(messages queued, when the oldest was queued, blocked channels and why, messages given up on)."""
        k = self.k
        p = self.r.pipeline(transaction=False)
        p.zcard(k.outbox_all)
        p.zrange(k.outbox_all, 0, 0, withscores=True)
        p.hgetall(k.outbox_blocked)
        p.llen(k.outbox_dead)
        depth, oldest, blocked, dead = await p.execute()
        return (int(depth), float(oldest[0][1]) if oldest else None,
                {c: orjson.loads(v) for c, v in blocked.items()}, int(dead))

    async def dead_messages(self, limit: int = 100) -> list[dict]:
        return [orjson.loads(x) for x in await self.r.lrange(self.k.outbox_dead, 0, limit - 1)]
