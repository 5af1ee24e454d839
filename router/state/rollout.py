"""A staged rollout, shared by every router on the store: its state and the two versions of the rules.

`Keys.rollout` (a hash) says what is staged: `state` (`staged`, `promoted`, `rolled back`),
`share` (per cent of callers on the candidate), `current` and `candidate` (versions, see
`rulefile.version_of`), `since`, `by`, and once it ended `ended_at`, `ended_by`. Each version's
files are kept under `Keys.rules_version` (a JSON list of [name, text]) for
ROLLOUT_VERSION_SECONDS, so that every router routes by the very same two versions whatever its
own rule path holds, and a rollback puts back exactly the rules that were in force. A change is
announced on the live events (`{"type": "rollout"}`, router/rollout.py sends it): every router
reads the hash again then, and whenever its live-event reader (re)connects — never on a call's path.
"""

from __future__ import annotations

import orjson

from router.core.rulefile import RuleTexts
from router.state.base import StoreBase

ROLLOUT_VERSION_SECONDS = 90 * 86400
"""How long a staged version's files are kept after the stage (a rollout that outlives it cannot be
joined by a router that starts later, and says so)."""


class RolloutMixin(StoreBase):
    async def stage_rollout(self, state: dict[str, str | int | float], versions: dict[str, RuleTexts]) -> None:
        """Replace the rollout's state (and keep the versions' files) in one transaction."""
        p = self.r.pipeline(transaction=True)
        for version, texts in versions.items():
            p.set(self.k.rules_version(version), orjson.dumps([list(t) for t in texts]), ex=ROLLOUT_VERSION_SECONDS)
        p.delete(self.k.rollout)
        p.hset(self.k.rollout, mapping=state)
        await p.execute()

    async def end_rollout(self, candidate: str, ended: str, by: str, at: float) -> bool:
        """Mark the staged rollout of `candidate` promoted or rolled back; False when that is not what is staged
        (another router ended it, or staged another candidate, first)."""
        key = self.k.rollout
        async with self.r.pipeline(transaction=True) as p:
            await p.watch(key)
            found = await p.hmget(key, "state", "candidate")
            if found != ["staged", candidate]:
                await p.reset()
                return False
            p.multi()
            p.hset(key, mapping={"state": ended, "ended_at": at, "ended_by": by})
            await p.execute()
        return True

    async def rollout(self) -> dict[str, str]:
        return await self.r.hgetall(self.k.rollout)

    async def rules_version(self, version: str) -> RuleTexts | None:
        raw = await self.r.get(self.k.rules_version(version))
        return tuple((name, text) for name, text in orjson.loads(raw)) if raw else None
