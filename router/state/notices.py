"""Notices waiting for a person's digest: a list per person, the set of people with some waiting (scored by
when their digest may go), when each was last sent one, and once-only marks (a task's overdue notice).

Taking a person's waiting notices is one transaction (read and delete): with several routers
running the same sweep, each notice goes out in one digest only.
"""

from __future__ import annotations

import orjson
from redis.exceptions import WatchError

from router.state.base import StoreBase

MARK_KEEP = 7 * 86400


class NoticesMixin(StoreBase):
    async def queue_notice(self, name: str, item: dict, due: float) -> None:
        """`item` waits for `name`'s next digest, which may go at `due` (an earlier due time stays)."""
        p = self.r.pipeline(transaction=True)
        p.rpush(self.k.notices(name), orjson.dumps(item))
        p.zadd(self.k.notices_waiting, {name: due}, nx=True)
        await p.execute()

    async def notices_due(self, now: float, limit: int = 1000) -> list[str]:
        return await self.r.zrangebyscore(self.k.notices_waiting, "-inf", now, start=0, num=limit)

    async def postpone_notices(self, name: str, due: float) -> None:
        await self.r.zadd(self.k.notices_waiting, {name: due}, xx=True)

    async def take_notices(self, name: str, now: float, every: float = 0) -> list[dict] | float:
        """Everything waiting for `name`, taken once (whichever router or task asks first), the digest marked as
        sent now; or, when one went less than `every` seconds ago, when the next may go (and it waits till then)."""
        k = self.k
        async with self.r.pipeline(transaction=True) as p:
            while True:
                try:
                    await p.watch(k.notices_sent(name), k.notices(name))
                    last = float(await p.get(k.notices_sent(name)) or 0)
                    if now < last + every:
                        await p.reset()
                        await self.r.zadd(k.notices_waiting, {name: last + every})
                        return last + every
                    p.multi()
                    p.lrange(k.notices(name), 0, -1)
                    p.delete(k.notices(name))
                    p.zrem(k.notices_waiting, name)
                    p.set(k.notices_sent(name), now, ex=MARK_KEEP)
                    items, *_ = await p.execute()
                    return [orjson.loads(x) for x in items]
                except WatchError:
                    continue

    async def last_notice(self, name: str) -> float:
        return float(await self.r.get(self.k.notices_sent(name)) or 0)

    async def mark_once(self, mark: str) -> bool:
        """True the first time `mark` is set (across routers), False after."""
        return bool(await self.r.set(self.k.notice_mark(mark), 1, nx=True, ex=MARK_KEEP))
