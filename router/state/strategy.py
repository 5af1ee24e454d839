"""The company's switches flipped at runtime: the strategy and the day/night switch, in one hash every call's
round trip reads (`HMGET … strategy switch`)."""

from __future__ import annotations

from router.state.base import StoreBase


class StrategyMixin(StoreBase):
    async def set_strategy(self, strategy: str, by: str, at: float) -> str | None:
        """Switch the strategy for every router sharing this store; returns the one it replaced."""
        p = self.r.pipeline(transaction=True)
        p.hget(self.k.strategy, "strategy")
        p.hset(self.k.strategy, mapping={"strategy": strategy, "by": by, "at": at})
        previous, _ = await p.execute()
        await self.share([{"type": "strategy", "strategy": strategy}])
        return previous

    async def strategy(self) -> dict[str, str]:
        return await self.r.hgetall(self.k.strategy)

    async def set_switch(self, mode: str, by: str, at: float) -> str | None:
        """Flip the day/night switch for every router sharing this store; returns the mode it replaced."""
        p = self.r.pipeline(transaction=True)
        p.hget(self.k.strategy, "switch")
        p.hset(self.k.strategy, mapping={"switch": mode, "switch_by": by, "switch_at": at})
        previous, _ = await p.execute()
        await self.share([{"type": "switch", "switch": mode}])
        return previous
