"""The CRM's ids beside the router's: what a CRM answered, kept so that later requests can name it.

- A call (`Keys.crm_call`, by decision id, else linkedid): the CRM's call id from registering it, the
  entity it was bound to, the user it was registered for, and whether it was finished.
- A task (`Keys.crm_task`, by the router's task id): the CRM's task id and the entity it is bound to.
- A number (`Keys.crm_entity`): the entity its last registered call was bound to (a retention task has
  no call of its own).
- A request that creates something is marked as tried before it is sent (`Keys.crm_tried`): a retry
  after a lost answer looks in the CRM before creating it again.
- Requests per second to a CRM are counted per second across routers (`Keys.crm_rate`).
- What stops the connector — an unmapped or deleted user — is kept with what to do (`Keys.crm_problems`).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from router.state.base import StoreBase
from router.state.keys import CRM_CALL_KEEP_SECONDS


class CrmMixin(StoreBase):
    async def crm_call(self, call: str) -> dict[str, str]:
        return await self.r.hgetall(self.k.crm_call(call))

    async def set_crm_call(self, call: str, fields: Mapping[str, str | int]) -> None:
        p = self.r.pipeline(transaction=True)
        p.hset(self.k.crm_call(call), mapping=fields)
        p.expire(self.k.crm_call(call), CRM_CALL_KEEP_SECONDS)
        await p.execute()

    async def forget_crm_call_id(self, call: str) -> None:
        """The CRM no longer knows the call id (it expired there): the next attempt registers it again."""
        await self.r.hdel(self.k.crm_call(call), "call_id")

    async def crm_task(self, task_id: str) -> dict[str, str]:
        return await self.r.hgetall(self.k.crm_task(task_id))

    async def set_crm_task(self, task_id: str, fields: Mapping[str, str | int]) -> None:
        p = self.r.pipeline(transaction=True)
        p.hset(self.k.crm_task(task_id), mapping=fields)
        p.expire(self.k.crm_task(task_id), self.retention.tasks)
        await p.execute()

    async def crm_entity(self, number: str) -> str | None:
        return await self.r.get(self.k.crm_entity(number))

    async def set_crm_entity(self, number: str, entity: str) -> None:
        await self.r.set(self.k.crm_entity(number), entity, ex=self.retention.numbers)

    async def mark_tried(self, message_id: str, seconds: int) -> bool:
        """Mark a creating request as sent; True if it had been sent before (its answer may have been lost)."""
        return not await self.r.set(self.k.crm_tried(message_id), "1", nx=True, ex=max(1, seconds))

    async def rate_slot(self, name: str, second: int, per_second: int, keep: int = 10) -> bool:
        """Take one of the `per_second` requests of `second` to the CRM `name`; False when they are taken.
        The count lives `keep` seconds (past that second)."""
        p = self.r.pipeline(transaction=True)
        p.incr(self.k.crm_rate(name, second))
        p.expire(self.k.crm_rate(name, second), keep)
        taken, _ = await p.execute()
        return int(taken) <= per_second

    async def set_crm_problem(self, key: str, problem: dict | None) -> None:
        if problem is None:
            await self.r.hdel(self.k.crm_problems, key)
        else:
            await self.r.hset(self.k.crm_problems, key, orjson.dumps(problem))

    async def crm_problems(self) -> dict[str, dict]:
        return {k: orjson.loads(v) for k, v in (await self.r.hgetall(self.k.crm_problems)).items()}
