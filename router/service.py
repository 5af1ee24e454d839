"""The routing service: AGI request in, decision out, rules in force swapped atomically."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from router.asterisk import mset
from router.asterisk import variables as V
from router.asterisk.agi import AGISession
from router.asterisk.routevars import route_variables, whisper_variables
from router.core.decide import CompiledRules, Decision, decide, fallback_decision
from router.core.identify import profile
from router.core.menus import INPUT_KEY, WrongInput
from router.core.outcome import Outcome
from router.core.phones import MAX_CALLER_ID, MAX_NAME, cut, normalise, score
from router.core.ring import Ring
from router.core.rulefile import DEFAULT_LIMITS, Limits
from router.core.rules import CrmDirectory
from router.core.snapshot import EMPTY, Seen, Snapshot
from router.daynight import DayNight
from router.directory.contracts import find_customer
from router.directory.crm import Crm
from router.followups.callbacks import Callbacks
from router.followups.dialler import Dialler
from router.followups.escalation import Escalator
from router.followups.followup import Followups
from router.followups.holds import Holds
from router.ivr.dialplan import dialplan
from router.ivr.dialplan import write as write_dialplan
from router.latency import Histogram
from router.reports.tally import Calendar
from router.risk.engine import Risk
from router.rollout import Rollouts
from router.rulesource import RuleSource
from router.state.decisionlog import DecisionLog, entry
from router.state.feed import Feed
from router.state.keys import Retention
from router.state.shared import PATIENCE
from router.state.store import Store
from router.web.broadcast import Broadcast

log = logging.getLogger("router")


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
        self.rollouts = Rollouts(store, self.source, clock, lambda: self.rules, self._use, self.broadcast.publish)
        self.feed = Feed(store, self.broadcast.publish, watched=lambda: bool(self.broadcast.subscribers),
                         react=self.rollouts.follow, on_ready=self.rollouts.follow)
        self.instance = instance
        """Named in /healthz and on every decision; `router serve` makes it ROUTER_INSTANCE or HOST:AGI_PORT."""
        self.log = DecisionLog(store, publish=self.broadcast.publish)
        self.followups = Followups(store, lambda: self.rules, clock=clock, publish=self._followup_event)
        self.escalator = Escalator(self.followups)
        self.risk = Risk(store, lambda: self.rules, self.followups, clock)
        self.followups.on_closed, self.followups.on_reply = self.risk.refresh, self.escalator.check
        self.crm = Crm(store, clock=clock)
        self.callbacks = Callbacks(store, lambda: self.rules, clock)
        self.dialler = Dialler(store, lambda: self.rules, self.followups, self.callbacks, clock)
        self.holds = Holds(store, lambda: self.rules, self.followups, self.callbacks, clock)
        self.daynight = DayNight(store, self.broadcast.publish, clock)  # when: {switch: night}; POST /api/switch
        self._ids, self._instance = itertools.count(1), os.urandom(2).hex()
        self.ring_listeners: list[Callable[[Ring], None]] = []
        """Told when a phone starts or stops ringing for a routed caller (`on_ring`)."""
        self.setup_warnings: list[str] = []
        """What is missing from this router's setup and what follows from it (no AMI, no token…), for /healthz."""
        self.answered_listeners: list[Callable[[dict], None]] = []
        """Told each decision (its log entry) once its answer has gone to Asterisk: nothing slow, they run on
        the call's path (a CRM queues the call's registration)."""
        self.outcome_listeners: list[Callable[[Outcome], None]] = []
        """Told each recorded outcome first, before follow-ups act on it (a CRM queues the call's finish ahead
        of the task it opens)."""
        self.followup_listeners: list[Callable[[dict], None]] = []
        """Told every follow-up change this router makes (a person's page, the notices that reach them)."""
        self.store_warning: str | None = None
        """What is wrong with how the store keeps data (no persistence), for /healthz; asked at start and
        again on every tick."""
        self.decisions = 0
        self.fallbacks = 0
        self.wrong_inputs = 0
        """Typed numbers (a contract) the router could not take: malformed, or nobody's."""
        self.ivr_dialplan = ""
        """Where the menus' dialplan is written at start and after every reload (--ivr-dialplan); off when empty."""
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
        if self.rollouts.staged is not None:
            why = ("a rollout is staged: promote it or roll it back first (POST /api/rules/promote or "
                   "/api/rules/rollback), or stage the changed file with POST /api/rules/reload?share=N")
            log.error("rules not reloaded: %s", why)
            return [why]
        fresh = await self.source.reload()
        if isinstance(fresh, list):
            for p in fresh:
                log.error("rules not reloaded, the previous rules stay in force: %s", p)
            return fresh
        self._use(fresh)
        log.info("rules reloaded from %s: %d rules, %d targets, %d managers", self.source.path,
                 len(fresh.rules), len(fresh.rs.targets), len(fresh.rs.managers))
        await self.write_ivr_dialplan()
        return []

    def _use(self, rules: CompiledRules) -> None:
        """Put rules in force: every call from now on, outside a rollout's share, is routed by them."""
        self.rules = rules
        self.store.calendar = calendar_of(rules)
        self.store.retention = retention_of(rules)

    async def write_ivr_dialplan(self) -> None:
        """The rules' menus as dialplan into `ivr_dialplan`, when set; Asterisk reads it at `dialplan reload`."""
        if not self.ivr_dialplan:
            return
        rs = self.rules.rs
        try:
            changed = await asyncio.to_thread(write_dialplan, self.ivr_dialplan, dialplan(rs))
        except OSError as e:
            log.error("IVR dialplan not written to %s (%s): Asterisk keeps the menus it has; make the file "
                      "writable by the router, then reload the rules", self.ivr_dialplan, e.strerror or e)
            return
        if changed:
            log.info("IVR dialplan written to %s (%d menus): run asterisk -rx \"dialplan reload\"",
                     self.ivr_dialplan, len(rs.menus))

    async def route(self, env: dict[str, str], record: bool = True) -> Decision | WrongInput:
        """Identify and decide for one call: one store round trip, bounded by the budget.

        A call asking again after a menu (`menu=`/`choice=` AGI arguments) is not written to the
        history again, nor taken for a repeat of itself; one that typed a contract number is first
        looked up (one round trip more) and routed as that customer, or answered WrongInput.
        """
        started = time.perf_counter()
        rules = self.rules
        raw = cut(env.get("agi_callerid", ""), MAX_CALLER_ID)
        name = cut(env.get("agi_calleridname", ""), MAX_NAME)
        if name == "unknown":  # what res_agi sends for a caller ID without a name (a SIP From without one)
            name = ""
        asked = V.agi_asked(env)
        dnid = env.get("agi_dnid", "")
        if dnid in ("", "unknown"):  # in a menu, the extension is the key pressed: the menu passes the dnid
            dnid = asked.dnid if asked else env.get("agi_extension", "")
            if dnid in ("s", "unknown"):  # a trunk that delivers to `s`: the called number is not known
                dnid = ""
        number = normalise(raw, rules.region)
        staged = self.rollouts.staged
        group = ""
        if staged is not None:  # a pure hash of the number: every router puts the caller in the same group
            rules, group = staged.rules_for(number.key)
            if rules.region != self.rules.region:
                number = normalise(raw, rules.region)
        now = self.clock()
        call_id = env.get("agi_uniqueid") or ""
        menu = rules.rs.menus.get(asked.menu)
        typed = menu.input if menu is not None and asked.key == INPUT_KEY else None
        if typed is not None and (why := typed.problem(asked.digits)):
            return self._wrong(asked.menu, why, started)
        who, found = number, None
        try:
            # the store keeps the budget (it knows whether Redis is answering); this only bounds the worst
            async with asyncio.timeout(self.budget * (PATIENCE + 1)):
                if typed is not None:
                    found = await find_customer(self.store, self.crm, rules.rs.directory.crm, asked.digits,
                                                rules.region, self.budget,
                                                lambda: self.budget - (time.perf_counter() - started))
                    if found is None:
                        return self._wrong(asked.menu, f"no customer with {typed.field} {asked.digits}", started)
                    who = found.number or number
                crm = rules.rs.directory.crm if who.e164 and found is None else None
                # a fixed-line number's own zone outranks the numbering plan: no need to look it up
                first_ask = record and not asked
                snap = await self.store.snapshot(who.key, None if who.zone else score(who.key), now,
                                                 rules.calls_window,
                                                 record_inbound=(call_id or f"t{now}") if first_ask else None,
                                                 budget=self.budget, crm=crm is not None,
                                                 same_call=(call_id or None) if asked else None)
        except Exception as e:
            why = f"no answer within {self.budget * 1000:.0f} ms" if isinstance(e, TimeoutError) else str(e)
            caller = profile(number, raw, name, dnid, EMPTY, rules.rs, now, asked=asked)
            option = (caller.menu, caller.key) in rules.menu_rules  # an option that names its target
            log.warning("call %s from %r: store unavailable (%s); routed by the %s", call_id or "?", raw[:40], why,
                        "menu's option" if option else "fallback chain")
            if option:
                d = decide(rules, caller, frozenset(), now)
                d.reasons.append(f"store unavailable: {type(e).__name__}")
            else:
                d = fallback_decision(rules, caller, now, f"store unavailable: {type(e).__name__}")
            d.extra["history_pending"] = bool(record and number.key and not asked)
            d.seen = Seen(number, EMPTY, rules.calls_window, store_failed=True)
        else:
            identified = ""
            if found is not None and typed is not None:
                if found.source == "directory" and snap.customer.get(typed.field) != asked.digits:
                    return self._wrong(asked.menu, f"{typed.field} {asked.digits} is no longer the customer's",
                                       started)
                if found.fields:  # the CRM's record, unless the phone it names is in the directory
                    snap.customer = snap.customer if found.number is not None and snap.customer else found.record()
                    snap.crm, snap.crm_note = {"found": True, "fields": found.fields}, "identified by the CRM"
                identified = f"{typed.field} {asked.digits}"
            elif crm is not None:
                await self._crm(crm, number.key, snap, started)
            caller = profile(who, raw, name, dnid, snap, rules.rs, now, asked=asked,
                             phone=number.key if identified else "", identified=identified)
            d = decide(rules, caller, snap.busy, now)
            d.seen = Seen(number, snap, rules.calls_window)
        if d.fallback:
            self.fallbacks += 1
        d.id = f"{int(now * 1000):011x}{next(self._ids) & 0xFFFFF:05x}{self._instance}"
        d.extra["instance"] = self.instance
        if rules.version:
            d.extra["rules_version"] = rules.version
        if group:
            d.extra["rollout"] = group
        d.latency_ms = (time.perf_counter() - started) * 1000
        self.latency.observe(d.latency_ms)
        return d

    def _wrong(self, menu: str, why: str, started: float) -> WrongInput:
        self.wrong_inputs += 1
        return WrongInput(menu, why, (time.perf_counter() - started) * 1000)

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
        tell(self.outcome_listeners, o, o.linkedid, "outcome")
        await self.followups.on_outcome(o)
        await self.holds.on_outcome(o)  # a callback's call ended: its claim and its held place are freed
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
        """The periodic work: stalled follow-ups escalate, aged-out risk signals are recomputed, and whether
        Redis keeps data on disk is asked again (fixing Redis clears the warning without a restart)."""
        now = self.clock()
        await self.escalator.run(now)
        await self.risk.sweep(now)
        await self.check_store()

    async def check_store(self) -> None:
        """Ask the store whether it keeps data on disk; /healthz shows the answer, a change is logged once."""
        warning = await self.store.persistence_warning()
        if warning and warning != self.store_warning:
            log.warning("%s", warning)
        elif self.store_warning and not warning:
            log.info("Redis keeps data on disk now (AOF or RDB snapshots): the persistence warning is cleared")
        self.store_warning = warning

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
        if isinstance(d, WrongInput):  # no decision: the menu asks for the number again
            session.end_with(mset.commands([(V.INPUT, V.INPUT_WRONG)])[0])
            return
        self.decisions += 1
        try:
            await self._set_variables(session, d)
        finally:
            logged = entry(d, env)
            self.log.add(logged)
            tell(self.answered_listeners, logged, d.id, "answer")

    async def _set_variables(self, session: AGISession, d: Decision) -> None:
        """Every ROUTE_* variable in one `EXEC MSet` (more only past Asterisk's 2 KB line), the
        last one sent with the end of the session (see AGISession.end_with)."""
        every = bool(V.agi_asked(session.env))  # asked again from an IVR: clear what the first answer set
        pairs = route_variables(d, self.rules.rs.company.timezone, every)
        if self.rules.whisper is not None and not every:  # asked again from an IVR: the first whisper stays
            pairs += whisper_variables(self.rules, d, session.env)
        *first, last = mset.commands(pairs)
        for line in first:
            await session.command(line)
        session.end_with(last)


def tell(listeners: list[Callable[[Any], None]], what: object, call: str, kind: str) -> None:
    """Each listener on its own: one that fails is logged and the others still run."""
    for listener in listeners:
        try:
            listener(what)
        except Exception:
            log.exception("call %s: a %s listener failed; the others still run", call, kind)
