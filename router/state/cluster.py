"""The store on Redis Cluster: the same keys and commands, sent by slot.

A call's reads and writes all carry the caller's hash tag, so redis-py's cluster pipeline sends
them to one node in one write: still one round trip. It also follows MOVED/ASK replies and
refreshes the slot map after a failover.
"""

from __future__ import annotations

import asyncio

from redis.asyncio.cluster import RedisCluster

from router.state.store import Keys, Store


class ClusterStore(Store):
    def __init__(self, client: RedisCluster, keys: Keys | None = None):
        super().__init__(client, keys)  # type: ignore[arg-type]

    async def _round_trip(self, commands: list[tuple], budget: float | None = None) -> list:
        p = self.r.pipeline(transaction=False)
        for c in commands:
            p.execute_command(*c)
        async with asyncio.timeout(budget):
            return await p.execute(raise_on_error=True)
