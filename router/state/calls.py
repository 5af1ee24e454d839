"""Calls: the numbers' history, call outcomes from AMI, and device states.

An outcome is written once whichever router saw its AMI events first: a claim key per
(Linkedid, direction, number) taken with SET NX before anything else is written.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from router.core.facts import DecisionFacts
from router.core.outcome import Outcome
from router.reports.tally import tally_call
from router.state.base import Command, StoreBase
from router.state.keys import BUSY_STATES, DECISION_LOG_MAXLEN, JOURNAL_KEEP_SECONDS, OUTCOME_KEEP_SECONDS
from router.state.replies import mapping, score_map, with_newest
from router.state.report import tally_writes


class CallsMixin(StoreBase):
    async def record_outbound(self, number: str, at: float, answered: bool) -> None:
        await self.pooled([self.newest_write(number, f"out:{int(answered)}", at), self.kept(self.k.newest(number))])

    async def number_state(self, number: str) -> dict[str, str]:
        """The number's state as a call's snapshot sees it: the hash with the newest contacts folded in."""
        p = self.r.pipeline(transaction=False)
        p.hgetall(self.k.state(number))
        p.execute_command("ZRANGE", self.k.newest(number), 0, -1, "WITHSCORES")
        state, newest = await p.execute()
        return with_newest(mapping(state), score_map(newest))

    async def record_outcome(self, o: Outcome, also: Callable[[Outcome], list[Command]] | None = None) -> bool:
        """Write one call outcome once, whichever router instance saw it first; False if already written.
        See `record_outcomes`."""
        return (await self.record_outcomes([o], also))[0]

    async def record_outcomes(self, outcomes: list[Outcome], also: Callable[[Outcome], list[Command]] | None = None
                              ) -> list[bool]:
        """Write call outcomes, each once whichever router instance saw it first: for each, whether
        this call wrote it (False: written already).

        Two round trips for the whole batch, off the call path: the claims with what the report needs
        beside each outcome, then every write. The numbers must differ (a call's tally reads its
        number's state as the previous call of that number left it). Each `o` gains `type` (its
        decision's, as set by the rules or corrected since) and `open_task` (the number's open
        follow-up, or ""); `also(o)` adds commands of the same number's slot to the writes (the
        call as a customer event). On an error nothing is written and every claim is released."""
        if not outcomes:
            return []
        reads: list[Command] = []
        claims = [self.k.outcome_claim(o.linkedid, o.direction, o.number) for o in outcomes]
        for o, claim in zip(outcomes, claims, strict=True):
            reads += [("SET", claim, 1, "NX", "EX", OUTCOME_KEEP_SECONDS),
                      ("GET", self.k.decision(o.decision or "-")),
                      ("HMGET", self.k.state(o.number), "miss", "miss_cb", "followup", "last_in")]
        replies = await self.pooled(reads)
        mine = [bool(replies[3 * i]) or claim in self.unreleased for i, claim in enumerate(claims)]
        if not any(mine):
            return mine  # written already (a claim left by our own failed attempt is not: go on)
        try:
            writes: list[Command] = []
            for i, o in enumerate(outcomes):
                if mine[i]:
                    writes += self._outcome_writes(o, replies[3 * i + 1], replies[3 * i + 2], also)
            await self.pooled(writes)
        except BaseException:
            held = [c for c, m in zip(claims, mine, strict=True) if m]
            try:
                await self.r.delete(*held)  # let a retry (or another instance) write them
            except Exception:
                self.unreleased.update(held)  # the store is away: our retry must know the claims are its own
            raise
        for i, o in enumerate(outcomes):
            if mine[i]:
                self.unreleased.discard(claims[i])
                o.open_task = replies[3 * i + 2][2] or ""
        return mine

    def _outcome_writes(self, o: Outcome, raw: bytes | str | None, fields: list,
                        also: Callable[[Outcome], list[Command]] | None) -> list[Command]:
        number = o.number
        meta: DecisionFacts = orjson.loads(raw) if raw else {}
        if not o.type:
            o.type = meta.get("type", "")
        tally = tally_call(o, meta, {"miss": fields[0], "miss_cb": fields[1], "last_in": fields[3]},
                           self.calendar.zone, self.calendar.short_abandon)
        text = orjson.dumps(o.record())
        writes: list[Command] = []
        if o.decision:
            writes.append(("SET", self.k.outcome(o.decision), text, "EX", OUTCOME_KEEP_SECONDS))
        writes.append(("XADD", self.k.outcomes, "MAXLEN", "~", DECISION_LOG_MAXLEN, "*", "o", text,
                       "i", self.instance))
        if number.startswith("+"):
            started, answered = o.started, o.answered
            if o.direction == "outbound":
                writes.append(self.newest_write(number, f"out:{int(answered)}", started))
            else:
                writes.append(self.newest_write(number, f"in:{int(answered)}", started))
                if not o.decision:  # routed calls were written at decision time
                    writes.append(self.newest_write(number, "in", started))
            if answered and o.by and not o.ivr:  # an IVR is nobody to route back to
                # read back by the snapshot's HGETALL of this hash: known-agent routing costs no extra read
                writes.append(("HSET", self.k.state(number), "agent", o.by, "agent_at",
                               o.ended_at - o.talk_seconds, "agent_state", o.by_state))
            writes += [self.kept(self.k.newest(number)), self.kept(self.k.state(number))]
        writes += tally_writes(self.k, self.calendar, self.retention, tally)
        if also is not None:
            writes += also(o)
        return writes

    async def outcomes_for(self, decision_ids: list[str]) -> dict[str, dict]:
        if not decision_ids:
            return {}
        found = await self.round_trip([("GET", self.k.outcome(d)) for d in decision_ids])  # any slot each
        return {d: orjson.loads(v) for d, v in zip(decision_ids, found, strict=True) if v}

    # the AMI listener's journal

    async def journal_write(self, instance: str, changes: dict[str, bytes | None]) -> None:
        """Fields of the journal set (JSON) or dropped (None), in one round trip."""
        key = self.k.journal(instance)
        p = self.r.pipeline(transaction=False)
        kept = {f: v for f, v in changes.items() if v is not None}
        dropped = [f for f, v in changes.items() if v is None]
        if kept:
            p.hset(key, mapping=kept)
        if dropped:
            p.hdel(key, *dropped)
        p.expire(key, JOURNAL_KEEP_SECONDS)
        await p.execute()

    async def journal_read(self, instance: str) -> dict[str, dict]:
        return {f: orjson.loads(v) for f, v in (await self.r.hgetall(self.k.journal(instance))).items()}

    # device states

    async def set_device_state(self, device: str, state: str) -> None:
        busy = state.upper() in BUSY_STATES
        p = self.r.pipeline(transaction=False)
        p.hset(self.k.devstate, device, state)
        if busy:
            p.sadd(self.k.busy, device)
        else:
            p.srem(self.k.busy, device)
        self.share_in(p, {"type": "device", "device": device, "busy": busy})
        await p.execute()

    async def set_paused(self, device: str, queue: str, paused: bool) -> None:
        member = f"{device}|{queue}"
        await (self.r.sadd(self.k.paused, member) if paused else self.r.srem(self.k.paused, member))

    async def paused_devices(self) -> frozenset[str]:
        """Devices paused in at least one queue."""
        return frozenset(m.rpartition("|")[0] for m in await self.r.smembers(self.k.paused))

    async def busy(self) -> frozenset[str]:
        return frozenset(await self.r.smembers(self.k.busy))
