"""`when:` blocks compiled once, at rule load, into plain predicates.

A rule file is read once and evaluated on every call, so the work of interpreting it is
done here, ahead of time. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from router.core.calendar import CompanyDay
from router.core.identify import Caller
from router.core.risk import Hit
from router.core.rules import CallsWithin, When


@dataclass(frozen=True, slots=True)
class Moment:
    """The clock readings a rule may ask about, computed once per call."""

    now: float
    company_minute: int
    company_day: str
    caller_minute: int
    day: CompanyDay
    """The company's calendar day (holiday, working day) in company time."""


Test = Callable[[Caller, Moment], bool]
Describe = Callable[[Caller, Moment], str]


@dataclass(frozen=True, slots=True)
class Check:
    test: Test
    describe: Describe


def _signals(hits: Sequence[Hit]) -> str:
    return (": " + "; ".join(f"{h.name} ({h.text})" for h in hits)) if hits else ""


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _ago(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.0f} d"
    return f"{seconds / 3600:.0f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def compile_when(w: When | None) -> tuple[Check, ...]:
    """Each top-level condition becomes one Check; all must hold."""
    if w is None:
        return ()
    checks: list[Check] = []
    add = checks.append
    if w.kind is not None:
        kinds = frozenset(w.kind)
        add(Check(lambda c, m: c.kind in kinds, lambda c, m: f"kind={c.kind}"))
    if w.abc is not None:
        classes = frozenset(w.abc)
        add(Check(lambda c, m: c.abc in classes, lambda c, m: f"abc={c.abc}"))
    if w.known is not None:
        want = w.known
        add(Check(lambda c, m: c.known is want, lambda c, m: f"known={str(c.known).lower()}"))
    if w.anonymous is not None:
        want_anon = w.anonymous
        add(Check(lambda c, m: (not c.number) is want_anon, lambda c, m: f"anonymous={str(not c.number).lower()}"))
    if w.has_manager is not None:
        want_mgr = w.has_manager
        add(Check(lambda c, m: bool(c.manager) is want_mgr,
                  lambda c, m: f"manager={c.manager}" if c.manager else "no personal manager"))
    if w.has_open_followup is not None:
        want_fu = w.has_open_followup
        add(Check(lambda c, m: bool(c.open_followup) is want_fu,
                  lambda c, m: f"open follow-up {c.open_followup}" if c.open_followup else "no open follow-up"))
    if w.has_last_agent is not None:
        want_agent = w.has_last_agent
        add(Check(lambda c, m: bool(c.last_agent) is want_agent,
                  lambda c, m: f"last answered by {c.last_agent}" if c.last_agent else "no recent agent"))
    if w.last_agent_within is not None:
        agent_window = w.last_agent_within
        add(Check(lambda c, m: bool(c.last_agent) and m.now - (c.last_agent_at or 0) <= agent_window,
                  lambda c, m: f"last answered by {c.last_agent} {_ago(m.now - (c.last_agent_at or 0))} ago"
                  if c.last_agent else "no recent agent"))
    if w.has_task_owner is not None:
        want_owner = w.has_task_owner
        add(Check(lambda c, m: bool(c.task_owner) is want_owner,
                  lambda c, m: f"open task owned by {c.task_owner}" if c.task_owner else "no open task"))
    if w.manager is not None:
        managers = frozenset(w.manager)
        add(Check(lambda c, m: c.manager in managers, lambda c, m: f"manager={c.manager}"))
    if w.company is not None:
        companies = frozenset(w.company)
        add(Check(lambda c, m: c.company in companies,
                  lambda c, m: f"company={c.company}" if c.company else "no company"))
    if w.strategy is not None:
        strategies = frozenset(w.strategy)
        add(Check(lambda c, m: c.strategy in strategies, lambda c, m: f"strategy={c.strategy}"))
    if w.crm is not None:
        wanted = tuple((f, frozenset(v)) for f, v in w.crm.items())
        add(Check(lambda c, m: all(c.crm.get(f) in values for f, values in wanted),
                  lambda c, m: "CRM " + ", ".join(f"{f}={c.crm.get(f, '∅')}" for f, _ in wanted)))
    if w.choice is not None:
        choices = frozenset(w.choice)
        add(Check(lambda c, m: c.choice in choices,
                  lambda c, m: f"IVR choice: {c.choice}" if c.choice else "no IVR choice"))
    if w.callback_after is not None:
        after = w.callback_after
        add(Check(lambda c, m: c.callback_after == after, lambda c, m: f"callback after our {after} call"))
    if w.local_hours is not None:
        lh = w.local_hours
        add(Check(lambda c, m: lh.contains(m.caller_minute),
                  lambda c, m: f"caller's local time {_hhmm(m.caller_minute)} {c.tz} in {lh}"))
    if w.hours is not None:
        h = w.hours
        add(Check(lambda c, m: h.contains(m.company_minute),
                  lambda c, m: f"company time {_hhmm(m.company_minute)} in {h}"))
    if w.days is not None:
        days = frozenset(w.days)
        add(Check(lambda c, m: m.company_day in days, lambda c, m: f"day={m.company_day}"))
    if w.dnid is not None:
        dnids = frozenset(w.dnid)
        add(Check(lambda c, m: c.dnid in dnids, lambda c, m: f"dnid={c.dnid}"))
    if w.prefix is not None:
        prefixes = tuple(w.prefix)
        add(Check(lambda c, m: c.number.startswith(prefixes), lambda c, m: f"number {c.number} matches prefix"))
    if w.tags is not None:
        tags = frozenset(w.tags)
        add(Check(lambda c, m: not tags.isdisjoint(c.tags),
                  lambda c, m: "tags=" + ",".join(sorted(tags & c.tags))))
    if w.calls_within is not None:
        seconds, at_least, days_n = w.calls_within.days * 86400, w.calls_within.at_least, w.calls_within.days
        add(Check(lambda c, m: c.calls_within(seconds, m.now) >= at_least,
                  lambda c, m: f"{c.calls_within(seconds, m.now)} calls in {days_n} days"))
    if w.prospect is not None:
        want_prospect = w.prospect
        add(Check(lambda c, m: c.prospect is want_prospect,
                  lambda c, m: "a prospect (no conversation answered yet)" if c.prospect else "not a prospect"))
    if w.risk is not None:
        levels = frozenset(w.risk)
        add(Check(lambda c, m: c.risk in levels, lambda c, m: f"risk={c.risk}" + _signals(c.risk_hits)))
    if w.risk_signal is not None:
        signals = frozenset(w.risk_signal)
        add(Check(lambda c, m: any(h.name in signals for h in c.risk_hits),
                  lambda c, m: "risk signals" + _signals([h for h in c.risk_hits if h.name in signals])))
    if w.holiday is not None:
        want_holiday = w.holiday
        add(Check(lambda c, m: bool(m.day.holiday) is want_holiday, lambda c, m: m.day.describe()))
    if w.workday is not None:
        want_workday = w.workday
        add(Check(lambda c, m: m.day.workday is want_workday, lambda c, m: m.day.describe()))
    if w.switch is not None:
        modes = frozenset(w.switch)
        add(Check(lambda c, m: c.switch in modes, lambda c, m: f"switch={c.switch}"))
    if w.zone is not None:
        zones = frozenset(w.zone)
        add(Check(lambda c, m: c.tz in zones, lambda c, m: f"caller's zone {c.tz} ({c.tz_source})"))
    if w.all is not None:
        parts = tuple(compile_when(x) for x in w.all)
        add(Check(lambda c, m: every(parts, c, m),
                  lambda c, m: " and ".join(say(p, c, m) for p in parts)))
    if w.any is not None:
        alts = tuple(compile_when(x) for x in w.any)
        add(Check(lambda c, m: some(alts, c, m),
                  lambda c, m: next((say(p, c, m) for p in alts if holds(p, c, m)), "any")))
    if w.not_ is not None:
        inner = compile_when(w.not_)
        text = condition_text(w.not_)
        add(Check(lambda c, m: not holds(inner, c, m), lambda c, m: f"not ({text})"))
    return tuple(checks)


def condition_text(w: When) -> str:
    """A `when` block as the admin wrote it, for reasons: `abc=C, kind=new|repeat`."""
    parts = []
    for name, info in When.model_fields.items():
        value = getattr(w, name)
        if value is None:
            continue
        if isinstance(value, When):
            value = "{" + condition_text(value) + "}"
        elif isinstance(value, list):
            value = "|".join(("{" + condition_text(v) + "}") if isinstance(v, When) else str(v) for v in value)
        elif isinstance(value, CallsWithin):
            value = f"{value.at_least}+ in {value.days}d"
        parts.append(f"{info.alias or name}={value}")
    return ", ".join(parts)


def holds(checks: tuple[Check, ...], c: Caller, m: Moment) -> bool:
    # a plain loop, not all(<generator>): this runs for every rule on every call
    for check in checks:  # noqa: SIM110
        if not check.test(c, m):
            return False
    return True


def every(groups: tuple[tuple[Check, ...], ...], c: Caller, m: Moment) -> bool:
    for g in groups:  # noqa: SIM110 (see holds)
        if not holds(g, c, m):
            return False
    return True


def some(groups: tuple[tuple[Check, ...], ...], c: Caller, m: Moment) -> bool:
    for g in groups:  # noqa: SIM110 (see holds)
        if holds(g, c, m):
            return True
    return False


def say(checks: tuple[Check, ...], c: Caller, m: Moment) -> str:
    return ", ".join(check.describe(c, m) for check in checks) or "always"




def max_calls_window(whens: list[When | None]) -> int:
    """The longest `calls_within` window, so that one read fetches enough history."""
    best = 0

    def walk(w: When | None) -> None:
        nonlocal best
        if w is None:
            return
        if w.calls_within is not None:
            best = max(best, w.calls_within.days * 86400)
        for sub in (*(w.any or ()), *(w.all or ())):
            walk(sub)
        walk(w.not_)

    for w in whens:
        walk(w)
    return best


__all__ = ["Check", "Moment", "compile_when", "holds", "max_calls_window", "say"]
