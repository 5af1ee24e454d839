"""Staged rollouts of new rules across every router on the store: stage, follow, promote, roll back.

`stage(share)` reads the router's rule path as the candidate, keeps it and the rules in force
in the store (router/state/rollout.py) and routes `share` % of callers on it
(router/core/rollout.py says which). Every other router on the store follows from the live
events (and reads the rollout again whenever its reader reconnects): it compiles both
versions from the store — not from its own rule path, which may differ or may already hold
the candidate — in a thread, and swaps them in, so that every router routes the same callers
by the same two versions. `promote` makes the candidate the rules in force everywhere;
`rollback` puts back the rules that were in force, exactly; each is one call. A plain reload is
refused while a rollout is staged (the router says so): the two versions must stay the ones
every router agreed on.

Nothing here is on a call's path: a call reads the rollout from memory (`Rollouts.staged`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from router.core.decide import CompiledRules
from router.core.rollout import PROMOTED, ROLLED_BACK, STAGED, Rollout
from router.core.rulefile import DEFAULT_LIMITS, RuleFileError
from router.rulesource import RuleSource, compile_rules, compile_texts
from router.state.errors import STORE_ERRORS
from router.state.store import Store

log = logging.getLogger("router.rollout")


class RolloutError(Exception):
    """A rollout step this router refuses: why, and what to do. `problems` lists a candidate's rule errors."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


class Rollouts:
    def __init__(self, store: Store, source: RuleSource | None, clock: Callable[[], float],
                 in_force: Callable[[], CompiledRules], swap: Callable[[CompiledRules], None],
                 publish: Callable[[dict], None]):
        self.store = store
        self.source = source
        self.clock = clock
        self.in_force = in_force
        self.swap = swap
        """Put rules in force (for every call outside a rollout's share)."""
        self.publish = publish
        self.staged: Rollout | None = None
        """The rollout this router routes by: read by every call, so only ever replaced whole."""
        self.ended: dict[str, str] = {}
        """The last rollout's end, as the store says it: state, versions, when, by whom."""
        self.problem = ""
        """Why this router could not follow the store's rollout (a version no longer kept), else empty."""
        self._lock = asyncio.Lock()
        self._following: set[asyncio.Task] = set()

    async def stage(self, share: int, by: str = "") -> dict:
        """The rule path as the candidate for `share` % of callers, on every router; ValueError for a share
        out of range, RolloutError for a candidate that cannot be staged."""
        if not 1 <= share <= 100:
            raise ValueError("share is a whole per cent from 1 to 100")
        if self.source is None:
            raise RolloutError("the router was started without a rule path: there is no candidate to stage")
        async with self._lock:
            try:
                candidate = await asyncio.to_thread(compile_rules, self.source.path, self.source.limits)
            except RuleFileError as e:
                raise RolloutError("the candidate rules do not load", [str(p) for p in e.problems]) from None
            staged = self.staged
            current = staged.current if staged is not None else self.in_force()
            if not current.files:
                raise RolloutError("the rules in force were not read from a rule path, so they could not be put "
                                   "back by a rollback: reload them first")
            if candidate.version == current.version:
                raise RolloutError(f"{self.source.path} holds the rules in force (version {current.version}): "
                                   "change it, then stage it")
            same = staged is not None and staged.candidate.version == candidate.version
            since = staged.since if staged is not None and same else self.clock()
            await self.store.stage_rollout(
                {"state": STAGED, "share": share, "current": current.version, "candidate": candidate.version,
                 "since": since, "by": by, "path": str(self.source.path)},
                {current.version: current.files, candidate.version: candidate.files})
            self.staged = Rollout(current, candidate, share, since, by)
            self.problem = ""
            self.swap(current)
        log.warning("rollout staged by %s: %d%% of callers on the rules of %s (version %s), the others on version %s",
                    by or "someone unnamed", share, self.source.path, candidate.version, current.version)
        self._announce()
        await self._tell_others()
        return self.status()

    async def promote(self, by: str = "") -> dict:
        return await self._end(PROMOTED, by)

    async def rollback(self, by: str = "") -> dict:
        return await self._end(ROLLED_BACK, by)

    async def _end(self, how: str, by: str) -> dict:
        async with self._lock:
            staged = self.staged
            if staged is None:
                raise RolloutError("no rollout is staged: nothing to " + ("promote" if how == PROMOTED else
                                                                          "roll back"))
            now = self.clock()
            if not await self.store.end_rollout(staged.candidate.version, how, by, now):
                await self._sync()
                raise RolloutError("the rollout changed meanwhile (another router ended it or staged another "
                                   "candidate): read GET /api/rules/rollout and try again")
            self.ended = {"state": how, "current": staged.current.version, "candidate": staged.candidate.version,
                          "since": str(staged.since), "ended_at": str(now), "ended_by": by}
            await self._finish(how, staged)
        await self._tell_others()
        return self.status()

    async def _finish(self, how: str, staged: Rollout) -> None:
        kept = staged.candidate if how == PROMOTED else staged.current
        self.swap(kept)
        self.staged = None
        if how == PROMOTED and self.source is not None:  # the rule path holds the candidate: not stale now
            await asyncio.to_thread(self.source.adopt, kept.version)
        log.warning("rollout %s: version %s in force on this router", how, kept.version)
        self._announce()

    def follow(self, event: dict | None = None) -> None:
        """Another router changed the rollout, or the live events reconnected: read it again (on the loop, so
        the reading runs as a task of its own)."""
        task = asyncio.create_task(self._follow(), name="rollout-follow")
        self._following.add(task)
        task.add_done_callback(self._following.discard)

    async def _follow(self) -> None:
        try:
            async with self._lock:
                await self._sync()
        except STORE_ERRORS as e:
            log.warning("rollout not read from the store (%s): routing on as before until the live events "
                        "reconnect", e)

    async def _sync(self) -> None:
        found = await self.store.rollout()
        state = found.get("state", "")
        staged = self.staged
        if state == STAGED:
            share = int(found["share"])
            if staged is not None and (staged.current.version, staged.candidate.version) == (found["current"],
                                                                                             found["candidate"]):
                if staged.share != share:
                    self.staged = dataclasses.replace(staged, share=share)
                    log.warning("rollout share now %d%% (version %s)", share, staged.candidate.version)
                return
            current = await self._version(found["current"])
            candidate = await self._version(found["candidate"])
            if current is None or candidate is None:
                self.problem = (f"the staged versions ({found['current']}, {found['candidate']}) are no longer kept "
                                "in the store: this router routes on its own rules; stage the rollout again")
                log.error("rollout not followed: %s", self.problem)
                return
            self.staged = Rollout(current, candidate, share, float(found.get("since") or 0), found.get("by", ""))
            self.problem = ""
            self.swap(current)
            log.warning("rollout followed: %d%% of callers on version %s, the others on version %s", share,
                        candidate.version, current.version)
            self._announce()
        elif state in (PROMOTED, ROLLED_BACK):
            self.ended = found
            if staged is not None and staged.candidate.version == found.get("candidate"):
                await self._finish(state, staged)

    async def _version(self, version: str) -> CompiledRules | None:
        """One version of the rules: in memory if this router has it, else compiled from the store's copy."""
        staged = self.staged
        for rules in (self.in_force(), *((staged.current, staged.candidate) if staged is not None else ())):
            if rules.version == version:
                return rules
        texts = await self.store.rules_version(version)
        if texts is None:
            return None
        limits = self.source.limits if self.source is not None else DEFAULT_LIMITS
        return await asyncio.to_thread(compile_texts, f"rules version {version}", texts, limits)

    def _announce(self) -> None:
        self.publish({"type": "rollout", **self.status()})

    async def _tell_others(self) -> None:
        """The other routers read the rollout again; if the event cannot be sent, they read it when their live
        events reconnect."""
        try:
            await self.store.share([{"type": "rollout"}])
        except STORE_ERRORS as e:
            log.warning("the other routers were not told of the rollout's change (%s): each reads it when its "
                        "live events reconnect", e)

    def status(self) -> dict:
        """What this router routes by: the staged rollout, else the rules in force and how the last one ended."""
        staged = self.staged
        out: dict = {"state": STAGED if staged is not None else (self.ended.get("state") or "none"),
                     "in_force": self.in_force().version}
        if staged is not None:
            out |= {"share": staged.share, "current": staged.current.version, "candidate": staged.candidate.version,
                    "since": staged.since, "by": staged.by}
        elif self.ended:
            out |= {k: self.ended.get(k, "") for k in ("current", "candidate", "ended_by")}
            out |= {k: float(self.ended.get(k) or 0) for k in ("since", "ended_at")}
        if self.problem:
            out["problem"] = self.problem
        return out
