"""The store on Redis Cluster: the same keys and commands, sent by slot.

A call's own keys all carry the caller's hash tag, so they are on one node and go there in
one write. redis-py's cluster pipeline splits a batch by node, sends to every node at once,
follows MOVED/ASK replies and refreshes the slot map after a failover.
"""

from __future__ import annotations

from redis.asyncio.cluster import RedisCluster

from router.state.store import Keys, Store


class ClusterStore(Store):
    def __init__(self, client: RedisCluster, keys: Keys | None = None):
        super().__init__(client, keys)  # type: ignore[arg-type]

    async def _pooled(self, commands: list[tuple]) -> list:
        p = self.r.pipeline(transaction=False)
        for c in commands:
            p.execute_command(*c)
        return await p.execute(raise_on_error=True)
