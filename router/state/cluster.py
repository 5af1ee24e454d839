"""The store on Redis Cluster: the same keys and commands, sent by slot.

A call's own keys all carry the caller's hash tag, so they are on one node; what every call
reads besides them (busy devices, the strategy, the day/night switch, the numbering plan, company ranges) comes from
the router's memory (`LocalView`): the call's round trip goes to one node. Off the call's
path, redis-py's cluster pipeline splits a batch by node, sends to every node at once, follows
MOVED/ASK replies and refreshes the slot map after a failover.
"""

from __future__ import annotations

from redis.asyncio.cluster import RedisCluster

from router.core.phones import padded
from router.core.snapshot import Snapshot
from router.state.base import Command
from router.state.keys import BUSY_STATES, COMPANY_NESTING, Keys
from router.state.localview import LocalView, table
from router.state.replies import caller_replies, company_of, range_zone
from router.state.store import Store

TABLE_BATCH = 10_000


class ClusterStore(Store):
    def __init__(self, client: RedisCluster, keys: Keys | None = None):
        super().__init__(client, keys)
        self.view = LocalView()
        self.sort_gets = False  # "GET option of SORT denied in Cluster mode" (Redis 7.0)

    async def pooled_raw(self, commands: list[Command]) -> list:
        p = self.r.pipeline(transaction=False)
        for c in commands:
            p.execute_command(*c)
        return await p.execute(raise_on_error=True)

    async def snapshot(self, number: str, score: int | None, now: float, window: float,
                       record_inbound: str | None = None, budget: float | None = None,
                       crm: bool = False, same_call: str | None = None) -> Snapshot:
        """Store.snapshot's answer, from the caller's node alone (see the module's docstring)."""
        v = self.view
        if not number:
            return Snapshot({}, {}, [], None, v.busy, strategy=v.strategy, switch=v.switch)
        res = await self.round_trip(self.caller_commands(number, now, window, crm, record_inbound, same_call),
                                    budget)
        numbering = None
        if score is not None:
            found = v.numbering.below(score, 1)
            numbering = range_zone(found[0], score) if found else None
        span = padded(number)
        company = company_of(v.companies.below(span, COMPANY_NESTING), span) if span is not None else None
        customer, state, risk, inbound, cached = caller_replies(res, window, crm, same_call)
        return Snapshot(customer, state, inbound, numbering, v.busy, company, v.strategy, v.switch, risk=risk,
                        crm=cached)

    async def set_device_state(self, device: str, state: str) -> None:
        self.view.device(device, state.upper() in BUSY_STATES)
        await super().set_device_state(device, state)

    async def set_strategy(self, strategy: str, by: str, at: float) -> str | None:
        previous = await super().set_strategy(strategy, by, at)
        self.view.strategy = strategy
        return previous

    async def set_switch(self, mode: str, by: str, at: float) -> str | None:
        previous = await super().set_switch(mode, by, at)
        self.view.switch = mode
        return previous

    async def load_view(self, what: str = "all") -> None:
        """Read the shared keys into memory: all, or one table that changed as a whole."""
        v = self.view
        if what == "all":
            v.busy = frozenset(await self.r.smembers(self.k.busy))
            v.strategy, v.switch = await self.r.hmget(self.k.strategy, ["strategy", "switch"])
        if what in ("all", "numbering"):
            v.numbering = table(await self._whole(self.k.numbering))
        if what in ("all", "companies"):
            v.companies = table(await self._whole(self.k.company_ranges))
        v.loaded = True

    async def _whole(self, key: str) -> list[tuple[str, float]]:
        rows: list[tuple[str, float]] = []
        while batch := await self.r.zrange(key, len(rows), len(rows) + TABLE_BATCH - 1, withscores=True):
            rows += batch
        return rows
