"""The routing service: AGI request in, decision out, rules in force swapped atomically."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from router.asterisk import mset
from router.asterisk import variables as V
from router.asterisk.agi import AGISession
from router.core.decide import CompiledRules, Decision, decide, fallback_decision
from router.core.identify import profile
from router.core.outcome import Outcome
from router.core.phones import MAX_CALLER_ID, MAX_NAME, cut, normalise, score
from router.core.ring import Ring
from router.core.rulefile import DEFAULT_LIMITS, Limits
from router.core.rules import CrmDirectory
from router.core.snapshot import EMPTY, Snapshot
from router.directory.crm import Crm
from router.followups.escalation import Escalator
from router.followups.followup import Followups
from router.reports.tally import Calendar
from router.risk.engine import Risk
from router.rulesource import RuleSource
from router.state.decisionlog import DecisionLog, entry
from router.state.feed import Feed
from router.state.keys import Retention
from router.state.shared import PATIENCE
from router.state.store import Store
from router.web.broadcast import Broadcast

log = logging.getLogger("router")

LATENCY_BUCKETS_MS = (0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500)


class Histogram:
    """Decision latency for /metrics, in Prometheus' cumulative-bucket form."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.sum = 0.0

    def observe(self, ms: float) -> None:
        self.sum += ms
        for i, bound in enumerate(LATENCY_BUCKETS_MS):
            if ms <= bound:
                self.counts[i] += 1
                return
        self.counts[-1] += 1


def calendar_of(rules: CompiledRules) -> Calendar:
    report = rules.rs.report
    return Calendar(rules.company_zone, report.keep_days, report.keep_calls)


def retention_of(rules: CompiledRules) -> Retention:
    kept = rules.rs.retention
    return Retention(kept.numbers, kept.tasks)


STORE_BUDGET = 0.25
"""Seconds Redis may stay silent on one call's read before the fallback chain is returned (a Redis
still answering the calls queued ahead gets up to PATIENCE times this: see router/state/shared.py)."""


class Router:
    def __init__(self, rules: CompiledRules, store: Store, rules_path: str | Path | None = None,
                 clock: Callable[[], float] = time.time, budget: float = STORE_BUDGET,
                 source: RuleSource | None = None, instance: str = ""):
        self.rules = rules
        self.source = source or (RuleSource(rules_path, clock=clock) if rules_path else None)
        if self.source is not None and source is None:
            self.source.loaded_at, self.source.loaded_mtime = clock(), self.source.newest_mtime()
        self.store = store
        store.calendar = calendar_of(rules)
        store.retention = retention_of(rules)
        self.clock = clock
        self.budget = budget
        self.broadcast = Broadcast()
        self.feed = Feed(store, self.broadcast.publish, watched=lambda: bool(self.broadcast.subscribers))
        self.instance = instance
        """Named in /healthz and on every decision; `router serve` makes it ROUTER_INSTANCE or HOST:AGI_PORT."""
        self.log = DecisionLog(store, publish=self.broadcast.publish)
        self.followups = Followups(store, lambda: self.rules, clock=clock, publish=self._followup_event)
        self.escalator = Escalator(self.followups)
        self.risk = Risk(store, lambda: self.rules, self.followups, clock)
        self.followups.on_closed = self.risk.refresh
        self.crm = Crm(store, clock=clock)
        self._ids = itertools.count(1)
        self._instance = os.urandom(2).hex()
        self.ring_listeners: list[Callable[[Ring], None]] = []
        """Told when a phone starts or stops ringing for a routed caller (`on_ring`)."""
        self.followup_listeners: list[Callable[[dict], None]] = []
        """Told every follow-up change this router makes (a person's page, the notices that reach them)."""
        self.store_warning: str | None = None
        """What is wrong with how the store keeps data (no persistence), for /healthz; set at start."""
        self.decisions = 0
        self.fallbacks = 0
        self.latency = Histogram()

    @property
    def instance(self) -> str:
        return self.store.instance

    @instance.setter
    def instance(self, name: str) -> None:
        self.store.instance = name

    def on_ring(self, ring: Ring) -> None:
        """A phone started or stopped ringing for a routed caller (from AMI): tell the pages, then whoever
        registered in `ring_listeners` (a person's card, the CRM), each on its own."""
        self.broadcast.publish({"type": "ring", "ring": ring.record()})
        for listener in self.ring_listeners:
            try:
                listener(ring)
            except Exception:
                log.exception("call %s: a ring listener failed; the others still run", ring.linkedid)

    def _followup_event(self, event: dict) -> None:
        self.broadcast.publish(event)
        self.feed.share(event)
        for listener in self.followup_listeners:
            listener(event)

    @classmethod
    def from_path(cls, path: str | Path, store: Store, limits: Limits = DEFAULT_LIMITS, **kw) -> Router:
        """Raises RuleFileError when the rules do not load."""
        source = RuleSource(path, limits, clock=kw.get("clock", time.time))
        return cls(source.load_now(), store, source=source, **kw)

    async def reload(self) -> list[str]:
        """Re-read the rule path off the event loop; on any error keep the rules in force and return
        the problems. Calls keep being routed by the rules in force until the new ones are swapped in."""
        if self.source is None:
            return ["the router was started without a rule path"]
        fresh = await self.source.reload()
        if isinstance(fresh, list):
            for p in fresh:
                log.error("rules not reloaded, the previous rules stay in force: %s", p)
            return fresh
        self.rules = fresh
        self.store.calendar = calendar_of(fresh)
        self.store.retention = retention_of(fresh)
        log.info("rules reloaded from %s: %d rules, %d targets, %d managers", self.source.path,
                 len(fresh.rules), len(fresh.rs.targets), len(fresh.rs.managers))
        return []

    async def route(self, env: dict[str, str], record: bool = True) -> Decision:
        """Identify and decide for one call: one store round trip, bounded by the budget."""
        started = time.perf_counter()
        rules = self.rules
        raw = cut(env.get("agi_callerid", ""), MAX_CALLER_ID)
        name = cut(env.get("agi_calleridname", ""), MAX_NAME)
        if name == "unknown":  # what res_agi sends for a caller ID without a name (a SIP From without one)
            name = ""
        dnid = env.get("agi_dnid", "")
        if dnid in ("", "unknown"):
            dnid = env.get("agi_extension", "")
            if dnid in ("s", "unknown"):  # a trunk that delivers to `s`: the called number is not known
                dnid = ""
        number = normalise(raw, rules.region)
        now = self.clock()
        call_id = env.get("agi_uniqueid") or ""
        crm = rules.rs.directory.crm if number.e164 else None
        try:
            # the store keeps the budget (it knows whether Redis is answering); this only bounds the worst
            async with asyncio.timeout(self.budget * (PATIENCE + 1)):
                # a fixed-line number's own zone outranks the numbering plan: no need to look it up
                snap = await self.store.snapshot(number.key, None if number.zone else score(number.key), now,
                                                 rules.calls_window,
                                                 record_inbound=(call_id or f"t{now}") if record else None,
                                                 budget=self.budget, crm=crm is not None)
        except Exception as e:
            why = f"no answer within {self.budget * 1000:.0f} ms" if isinstance(e, TimeoutError) else str(e)
            log.warning("call %s from %r: store unavailable (%s); routed by the fallback chain",
                        call_id or "?", raw[:40], why)
            caller = profile(number, raw, name, dnid, EMPTY, rules.rs, now, choice=V.agi_choice(env))
            d = fallback_decision(rules, caller, now, f"store unavailable: {type(e).__name__}")
            d.extra["history_pending"] = bool(record and number.key)
        else:
            if crm is not None:
                await self._crm(crm, number.key, snap, started)
            caller = profile(number, raw, name, dnid, snap, rules.rs, now, choice=V.agi_choice(env))
            d = decide(rules, caller, snap.busy, now)
        if d.fallback:
            self.fallbacks += 1
        d.id = f"{int(now * 1000):011x}{next(self._ids) & 0xFFFFF:05x}{self._instance}"
        d.extra["instance"] = self.instance
        d.latency_ms = (time.perf_counter() - started) * 1000
        self.latency.observe(d.latency_ms)
        return d

    async def _crm(self, settings: CrmDirectory, number: str, snap: Snapshot, started: float) -> None:
        """The CRM's answer from the cache, else asked within its budget (and the store's): never waited past."""
        if snap.crm is not None:
            snap.crm_note = "CRM (cached): " + ("known" if snap.crm.get("found") else "does not know this number")
            return
        left = self.budget - (time.perf_counter() - started)
        wait = max(0.0, min(settings.budget_ms / 1000, left))
        answer = await self.crm.within(settings, number, wait)
        if answer is None:
            snap.crm_note = f"CRM did not answer in {wait * 1000:.0f} ms"
        elif answer.error:
            snap.crm_note = f"CRM lookup failed: {answer.error}"
        else:
            snap.crm = answer.cacheable()
            snap.crm_note = f"CRM answered in {answer.ms:.0f} ms" + ("" if answer.found else ": not known")

    async def set_strategy(self, strategy: str, by: str) -> dict:
        """Switch the strategy for every router on this store: the next call and the worklist use it."""
        now = self.clock()
        previous = await self.store.set_strategy(strategy, by, now) or f"{self.rules.rs.company.strategy} (rule file)"
        log.warning("strategy switched from %s to %s by %s", previous, strategy, by or "someone unnamed")
        event = {"strategy": strategy, "by": by, "at": now, "previous": previous}
        self.broadcast.publish({"type": "strategy", **event})
        return event

    async def strategy(self) -> dict:
        found = await self.store.strategy()
        if found.get("strategy"):
            return {"strategy": found["strategy"], "by": found.get("by", ""), "at": float(found.get("at") or 0),
                    "source": "runtime"}
        return {"strategy": self.rules.rs.company.strategy, "by": "", "at": 0, "source": "rule file"}

    async def on_outcome(self, o: Outcome) -> None:
        """A call ended (from AMI): show it live and let follow-ups open or close."""
        self.broadcast.publish({"type": "outcome", "outcome": o.record()})
        await self.followups.on_outcome(o)
        try:
            await self.risk.on_outcome(o)
            missed = o.result == "missed" and o.number.startswith("+")
            task_id = await self.store.open_task_of(o.number) if missed else None
            if task_id:
                await self.escalator.check(task_id)  # another missed call may reach an `or_count`
        except Exception as e:
            # not retried with the follow-up work above, which would count the missed call twice;
            # the periodic check escalates the task, the number's next event recomputes its risk
            log.warning("call %s from %s: risk/escalation not updated now (%s)", o.linkedid, o.number[:20], e)

    async def tick(self) -> None:
        """The periodic work: stalled follow-ups escalate, aged-out risk signals are recomputed."""
        now = self.clock()
        await self.escalator.run(now)
        await self.risk.sweep(now)

    async def set_call_type(self, decision_id: str, call_type: str, by: str = "") -> dict | None:
        """An agent or supervisor sets or corrects a call's type; ValueError for a type the rules do not declare."""
        known = self.rules.rs.correctable_types()
        if call_type not in known:
            raise ValueError(f"unknown call type {call_type!r}; declared: {', '.join(known) or 'none'}")
        done = await self.store.set_call_type(decision_id, call_type, by, self.clock())
        if done is not None:
            log.info("call %s typed %r by %s", decision_id, call_type, by or "someone")
            self.broadcast.publish({"type": "call_type", "decision": decision_id, "call_type": call_type,
                                    "label": self.rules.rs.type_label(call_type), "by": by})
        return done

    async def answer(self, session: AGISession) -> None:
        """The `route` script: decide, set ROUTE_* on the channel, close."""
        env = session.env
        d = await self.route(env)
        self.decisions += 1
        try:
            await self._set_variables(session, d)
        finally:
            self.log.add(entry(d, env))

    async def _set_variables(self, session: AGISession, d: Decision) -> None:
        """Every ROUTE_* variable in one `EXEC MSet` (more only past Asterisk's 2 KB line), the
        last one sent with the end of the session (see AGISession.end_with)."""
        every = bool(V.agi_choice(session.env))  # asked again from an IVR: clear what the first answer set
        pairs = route_variables(d, self.rules.rs.company.timezone, every)
        if self.rules.whisper is not None and not every:  # asked again from an IVR: the first whisper stays
            pairs += whisper_variables(self.rules, d, session.env)
        *first, last = mset.commands(pairs)
        for line in first:
            await session.command(line)
        session.end_with(last)


def route_variables(d: Decision, company_tz: str, every: bool = False) -> list[tuple[str, object]]:
    """The contract with the dialplan, in order: the decision, then each step.

    Asterisk publishes every variable it sets as an event (VarSet), whoever listens: each one
    costs it about as much as a dialplan priority. So a variable whose value is empty is left
    unset (it reads as empty all the same) unless `every`: a dialplan asking again on a channel
    already routed (an IVR choice) must not keep the first answer's values. QUEUE_PRIO only
    matters to a queue step, and CDR(userfield) is a function, not a variable.
    """
    c = d.caller
    pairs: list[tuple[str, object]] = [
        (V.DECISION, d.id), (V.RULE, d.rule), (V.CALLER_KIND, c.kind if c else ""), (V.ABC, c.abc if c else ""),
        (V.MANAGER, c.manager if c else ""), (V.TZ, c.tz if c else company_tz), (V.PRIORITY, d.priority),
        (V.COUNT, len(d.steps))]
    if not every:
        pairs = [(name, value) for name, value in pairs if value != ""]
    for n, step in enumerate(d.steps, 1):
        pairs += [(V.step_type(n), step.type), (V.step_dest(n), step.dest), (V.step_timeout(n), step.timeout)]
    # set here rather than by the dialplan after the AGI: a priority less for Asterisk on every call
    if any(step.type == "queue" for step in d.steps):
        pairs.append((V.QUEUE_PRIO, d.priority))
    pairs.append((V.CDR_USERFIELD, d.id))
    return pairs


def whisper_variables(rules: CompiledRules, d: Decision, env: dict[str, str]) -> list[tuple[str, object]]:
    """CALLERID(name) (the name the agent's phone shows) and ROUTE_CALLER_NAME (the trunk's), when a whisper
    part holds for the caller; from the decision's profile, no store read (router/core/whisper.py)."""
    c = d.caller
    if rules.whisper is None or c is None:
        return []
    name = cut(env.get("agi_calleridname", ""), MAX_NAME)
    name = "" if name == "unknown" else name
    shown = rules.whisper.shown(c, rules.whisper.moment(d.at) or rules.moment(c, d.at), c.name or name)
    return [(V.WHISPER, shown), (V.CALLER_NAME, name)] if shown else []
