"""Where a call goes: rules × caller × busy devices × time -> Decision. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from router.core.calendar import CompanyCalendar
from router.core.conditions import Check, Moment, compile_when, holds, max_calls_window, say
from router.core.freepbx import is_freepbx_queue
from router.core.identify import Caller
from router.core.menus import menu_context
from router.core.rulefile import RuleTexts, version_of
from router.core.ruleindex import Needs, RuleIndex
from router.core.rules import DAYS, LAST_AGENT_STEP, MANAGER_STEP, TASK_OWNER_STEP, Manager, RuleSet, Target
from router.core.snapshot import Seen
from router.core.whisper import Whisper

FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class Step:
    type: str  # dial | queue | ivr
    dest: str
    timeout: int
    name: str  # the target or manager it came from


@dataclass(slots=True)
class Decision:
    rule: str
    steps: tuple[Step, ...]
    priority: int
    reasons: list[str]
    caller: Caller | None
    at: float
    fallback: bool = False
    id: str = ""
    latency_ms: float = 0.0
    type: str = ""
    prospect: bool = False
    """The caller is a prospect, or this call's type makes them one (the new-connection choice)."""
    escalated: bool = False
    """A busy step was replaced by its `up`/`down` target."""
    extra: dict[str, Any] = field(default_factory=dict[str, Any])
    seen: Seen | None = None
    """What the router read to decide (set by the router, not by `decide`): the decision log's replay record."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    checks: tuple[Check, ...]
    route: tuple[str, ...]
    escalate: str | None
    priority: int | None
    type: str | None


class CompiledRules:
    """A RuleSet prepared for evaluation on every call."""

    def __init__(self, rs: RuleSet, source: str = "", files: RuleTexts = ()):
        self.rs = rs
        self.source = source
        self.files = files
        """The texts the rules were read from (empty when built from a RuleSet alone)."""
        self.version = version_of(files) if files else ""
        """Which version of the rules these are (`rulefile.version_of`), marked on every decision."""
        self.company_zone = ZoneInfo(rs.company.timezone)
        self.calendar = CompanyCalendar(rs.calendar)
        """Holidays and working days: the country's production calendar and the company's own dates."""
        self.region = rs.company.default_region
        self.calls_window = max_calls_window([r.when for r in rs.rules] + [p.when for p in rs.people.whisper])
        self.whisper = Whisper.compile(rs.people.whisper, rs.people.whisper_max) if rs.people.whisper else None
        """The prefix the agent's phone shows before the caller's name (router/core/whisper.py), if configured."""
        self.rules = tuple(_Compiled(r.name, compile_when(r.when), tuple(r.route), r.escalate, r.priority, r.type)
                           for r in rs.rules)
        self.index = RuleIndex([Needs.of(r.when) for r in rs.rules], self.rules)
        self.entries: dict[str, Target | Manager] = {**rs.targets, **rs.managers}
        self.fallback_steps = tuple(s for s in (self._step(n) for n in rs.fallback) if s)
        self.agents = {dev: name for name, m in rs.managers.items() for dev in (m.state, m.endpoint) if dev}
        """A device that answered a call (an endpoint or a queue member's state interface) -> its manager."""
        self.staff_names = {**{t.dial: t.owner or name for name, t in rs.targets.items() if t.dial}, **self.agents}
        """A device -> the person the rules know by it, for the report: a manager, else a dialled target's `owner`,
        else the target's name (`night_duty` for PJSIP/900); a device the rules do not name stays itself."""
        self.menu_rules: dict[tuple[str, str], _Compiled] = {}
        """(menu, key) -> the implicit rule of a menu option that names its target (`target:`, `operator`):
        it decides before the rule file's rules."""
        self.menu_targets = frozenset(name for name, t in rs.targets.items() if t.menu)
        """Targets that send the caller to a menu: a rule starting with one is passed over for a caller asked
        about again after a menu (it would send them round in menus)."""
        self.choice_types = dict(rs.types_by_choice)
        """IVR choice -> call type: `types_by_choice`, and the menus' options with a `type:`."""
        for menu_name, menu in rs.menus.items():
            for key, o in menu.exits():
                target = o.target or (menu.operator if o.then == "operator" else None)
                if target is not None:
                    self.menu_rules[(menu_name, key)] = _Compiled(f"menu {menu_name}: {key}", (), (target,),
                                                                  o.escalate, None, o.type)
                elif o.asked_choice and o.type:
                    self.choice_types.setdefault(o.asked_choice, o.type)

    def _step(self, name: str) -> Step | None:
        e = self.entries.get(name)
        if isinstance(e, Manager):
            return Step("dial", e.endpoint, e.timeout, name)
        if isinstance(e, Target):
            if e.queue:
                return Step("queue", e.queue, e.timeout, name)
            if e.dial:
                return Step("dial", e.dial, e.timeout, name)
            if e.menu:
                return Step("ivr", menu_context(e.menu), e.timeout, name)
            if e.freepbx is not None:
                kind, dest = e.freepbx.step()
                return Step(kind, dest, e.timeout, name)
            return Step("ivr", e.ivr or "", e.timeout, name)
        return None

    def call_type(self, rule_type: str | None, steps: tuple[Step, ...] | list[Step], caller: Caller | None) -> str:
        """The rule's `type:`, else the IVR choice's (`types_by_choice`), else the first step's target `type:`,
        else the called number's (`types_by_dnid`)."""
        if rule_type:
            return rule_type
        rs = self.rs
        if caller is not None and caller.choice and caller.choice in self.choice_types:
            return self.choice_types[caller.choice]
        for s in steps[:1]:
            e = self.entries.get(s.name)
            if isinstance(e, Target) and e.type:
                return e.type
        return rs.types_by_dnid.get(caller.dnid, "") if caller is not None else ""

    def prospect(self, caller: Caller | None, call_type: str) -> bool:
        if caller is None or not caller.number:
            return False
        t = self.rs.types.get(call_type)
        return caller.prospect or (t is not None and t.prospect)

    def candidates(self, caller: Caller) -> tuple[_Compiled, ...]:
        return self.index.candidates(caller)

    def device(self, name: str) -> str | None:
        """The device whose state tells whether this target or manager can take a call."""
        e = self.entries.get(name)
        if e is None:
            return None
        if e.state:
            return e.state
        if isinstance(e, Manager):
            return e.endpoint
        return e.freepbx.hint() if e.freepbx is not None else e.dial

    def moment(self, caller: Caller, now: float) -> Moment:
        company = datetime.fromtimestamp(now, self.company_zone)
        return Moment(now, company.hour * 60 + company.minute, DAYS[company.weekday()],
                      caller.local.hour * 60 + caller.local.minute, self.calendar.day(company.date()))


def _label(rules: CompiledRules, name: str) -> str:
    return f"manager {name}" if name in rules.rs.managers else name


def _escalate(rules: CompiledRules, name: str, way: str, busy: frozenset[str], reasons: list[str]) -> str:
    """Follow up/down links from a busy step to the first one that can take the call."""
    seen = {name}
    current = name
    while True:
        nxt: str | None = getattr(rules.entries[current], way)
        if nxt is None:
            reasons.append(f"{_label(rules, name)} busy, no {way} target → ringing it anyway")
            return name
        if nxt in seen:
            reasons.append(f"{_label(rules, name)} busy and every {way} target busy → ringing it anyway")
            return name
        seen.add(nxt)
        dev = rules.device(nxt)
        if dev is None or dev not in busy:
            reasons.append(f"{_label(rules, name)} busy → escalated {way} to {_label(rules, nxt)}")
            return nxt
        current = nxt


def decide(rules: CompiledRules, caller: Caller, busy: frozenset[str], now: float) -> Decision:
    m = rules.moment(caller, now)
    option = rules.menu_rules.get((caller.menu, caller.key)) if caller.menu else None
    passed_over = ""
    for rule in (option,) if option is not None else rules.candidates(caller):
        if holds(rule.checks, caller, m):
            if option is None and caller.menu and rule.route[0] in rules.menu_targets:
                passed_over = passed_over or rule.name  # back into a menu: the caller has just left one
                continue
            break
    else:
        return fallback_decision(rules, caller, now, "no rule matched" + (f" ({_passed(passed_over, caller)})"
                                                                          if passed_over else ""))
    reasons = [f"rule: {rule.name}" if option is None else f"{rule.name} → {rule.route[0]} (the menu's option)"]
    if passed_over:
        reasons.append(_passed(passed_over, caller))
    said = f"menu {caller.menu}:" if option is not None else ""
    if rule.checks:
        said = say(rule.checks, caller, m)
        reasons.append(said)
    reasons += [n for n in caller.notes if not (said and (n in said or n.startswith(said)))]  # said already
    steps: list[Step] = []
    seen: set[tuple[str, str]] = set()
    escalated = False
    for name in rule.route:
        step = None
        if name in _PERSON:
            found = _PERSON[name](rules, caller, reasons)
            if found is None:
                continue
            if isinstance(found, Step):  # an agent the rule file does not list: ring the device itself
                step, name = found, ""
                if found.dest in busy:
                    reasons.append(f"last agent {found.dest} busy (not in the managers table: no escalation)")
            else:
                name = found
        if name:
            dev = rules.device(name)
            if dev is not None and dev in busy:
                if rule.escalate:
                    went = _escalate(rules, name, rule.escalate, busy, reasons)
                    escalated = escalated or went != name
                    name = went
                else:
                    reasons.append(f"{_label(rules, name)} busy (the rule does not escalate)")
            step = rules._step(name)
        if step is not None and (step.type, step.dest) not in seen:
            seen.add((step.type, step.dest))
            steps.append(step)
    if not steps:
        return fallback_decision(rules, caller, now, f"rule {rule.name!r} left no step to try", rule=rule.name)
    if rule.priority is not None:
        priority = rule.priority
    else:
        priority = _queue_priority(rules, steps, caller.strategy)
        first = next((s for s in steps if s.type == "queue"), None)
        queue = rules.entries[first.name] if first is not None else None
        if first is not None and isinstance(queue, Target) and caller.strategy in queue.priorities:
            reasons.append(f"strategy {caller.strategy}: {first.name} at priority {priority}")
    call_type = rules.call_type(rule.type, steps, caller)
    return Decision(rule.name, tuple(steps), priority, reasons, caller, now, type=call_type,
                    prospect=rules.prospect(caller, call_type), escalated=escalated)


def _passed(rule: str, caller: Caller) -> str:
    return f"rule {rule!r} passed over: it sends callers to a menu, and this one has just left menu {caller.menu}"


def _listed(rules: CompiledRules, who: str, missing: str, unlisted: str, reasons: list[str],
            found: str = "") -> str | None:
    """A person named per caller, if the managers table lists them; else a reason why the step is skipped."""
    if not who:
        reasons.append(missing)
        return None
    if who not in rules.rs.managers:
        reasons.append(unlisted.format(who=who))
        return None
    if found:
        reasons.append(found.format(who=who))
    return who


def _manager(rules: CompiledRules, c: Caller, reasons: list[str]) -> str | None:
    return _listed(rules, c.manager, "no personal manager → step skipped",
                   "manager {who!r} is not in the rule file → step skipped", reasons)


def _last_agent(rules: CompiledRules, c: Caller, reasons: list[str]) -> str | Step | None:
    if not c.last_agent:
        reasons.append(f"no call answered in the last {rules.rs.identify.last_agent_within // 86400} days "
                       "→ last_agent skipped")
        return None
    name = rules.agents.get(c.last_agent) or rules.agents.get(c.last_agent_state)
    if name is not None:
        reasons.append(f"last answered by {name} ({c.last_agent})")
        return name
    if "/" not in c.last_agent:
        reasons.append(f"last agent {c.last_agent!r} is not a device to dial → step skipped")
        return None
    reasons.append(f"last answered by {c.last_agent}")
    return Step("dial", c.last_agent, LAST_AGENT_TIMEOUT, LAST_AGENT_STEP)


def _task_owner(rules: CompiledRules, c: Caller, reasons: list[str]) -> str | None:
    return _listed(rules, c.task_owner, "no open task → task_owner skipped",
                   "task owner {who!r} is not in the managers table → step skipped", reasons,
                   found="open task owned by {who}")


_PERSON = {MANAGER_STEP: _manager, LAST_AGENT_STEP: _last_agent, TASK_OWNER_STEP: _task_owner}
"""Route steps that name a person per caller, and how each is found."""
LAST_AGENT_TIMEOUT = 20
"""Seconds to ring a last agent the managers table does not list (a listed one rings its own timeout)."""


def _queue_priority(rules: CompiledRules, steps: Sequence[Step], strategy: str) -> int:
    """The priority of the first queue step under the strategy: what QUEUE_PRIO gets unless the rule says otherwise."""
    for s in steps:
        target = rules.entries.get(s.name)
        if (s.type == "queue" or is_freepbx_queue(s.dest)) and isinstance(target, Target):
            return next((p for name, p in target.priorities.items() if name == strategy), target.priority)
    return 0


def fallback_decision(rules: CompiledRules, caller: Caller | None, now: float, why: str,
                      rule: str = FALLBACK) -> Decision:
    steps = rules.fallback_steps
    notes = caller.notes if caller is not None else []
    call_type = rules.call_type(None, steps, caller)
    strategy = caller.strategy if caller is not None else rules.rs.company.strategy
    return Decision(rule, steps, _queue_priority(rules, steps, strategy), [f"{why} → fallback", *notes], caller,
                    now, fallback=True, type=call_type, prospect=rules.prospect(caller, call_type))
