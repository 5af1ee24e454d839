"""Coverage: which rules decide calls, which never do, and which cannot because an earlier rule takes their calls.

Three sources, each reported as such:

- **counted**: the calls each rule name decided per day, as the router counted them when it
  decided (`Keys.rule_hits`);
- **static shadowing**: a rule whose `when:` asks for nothing an earlier rule's `when:` does not
  also accept can never decide a call (first match wins). `implies` proves it where it can — an
  earlier rule without conditions, or with the same keys asking for as much or less (a superset
  of values, a wider hour window, a longer `calls_within` window with no higher count, the same
  booleans) — and says nothing where it cannot (`not`, conditions of different keys);
- **shadowed on the logged calls**: from a replay with `shadows` (router/core/replay.py), a rule
  that held for some calls but never first, and the rules that took them.

Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.core.hours import HourWindow
from router.core.replay import Replay
from router.core.rules import RuleSet, When

ANY_OF = ("kind", "abc", "manager", "company", "strategy", "choice", "days", "dnid", "tags", "risk", "risk_signal")
"""Keys that hold when the caller's value is one of a list (for `tags` and `risk_signal`: any of the caller's)."""
SAME = ("known", "anonymous", "has_manager", "has_open_followup", "has_last_agent", "has_task_owner", "prospect",
        "callback_after")
"""Keys that hold for one value."""


def _within(inner: HourWindow, outer: HourWindow) -> bool:
    return all(outer.contains(m) for m in range(24 * 60) if inner.contains(m))


def _condition_implied(inner: When, outer: When, key: str) -> bool:
    """Whether every caller for whom `inner` holds meets `outer`'s condition `key` (which `outer` sets)."""
    want = getattr(outer, key)
    have = getattr(inner, key)
    if key in ANY_OF:
        return have is not None and set(have) <= set(want)
    if key in SAME:
        return bool(have == want)
    if key == "prefix":
        return have is not None and all(p.startswith(tuple(want)) for p in have)
    if key in ("hours", "local_hours"):
        return have is not None and _within(have, want)
    if key == "last_agent_within":
        return have is not None and have <= want
    if key == "calls_within":
        return have is not None and have.days <= want.days and have.at_least >= want.at_least
    if key == "crm":
        return have is not None and all(f in have and set(have[f]) <= set(v) for f, v in want.items())
    if key == "any":
        return any(implies(inner, alt) for alt in want)
    if key == "all":
        return all(implies(inner, part) for part in want)
    return bool(have == want)  # `not`: only the very same block


def implies(inner: When | None, outer: When | None) -> bool:
    """True when every caller for whom `inner` holds is one for whom `outer` holds (proved, never guessed:
    False may also mean "cannot tell")."""
    if outer is None:
        return True
    keys = [k for k in When.model_fields if getattr(outer, k) is not None]
    if not keys:
        return True
    if inner is None:
        return False
    return all(_condition_implied(inner, outer, k) for k in keys)


def shadowed(rs: RuleSet) -> dict[str, str]:
    """Rule name -> the earlier rule that takes every call it asks for (the first such rule)."""
    out: dict[str, str] = {}
    rules = rs.rules
    for j, later in enumerate(rules):
        for earlier in rules[:j]:
            if implies(later.when, earlier.when):
                out[later.name] = earlier.name
                break
    return out


@dataclass(slots=True)
class RuleCoverage:
    name: str
    counted: int = 0
    """Calls it decided on the days asked, as counted when they were decided."""
    shadowed_by: str | None = None
    """The earlier rule that takes every call it asks for, when that can be proved from the file."""
    replayed: int | None = None
    """Calls it decides when the logged calls are decided again by this file (None: not replayed)."""
    held: int | None = None
    """Logged calls it holds for, first or not."""
    taken_by: dict[str, int] = field(default_factory=dict)
    """When it held but did not decide: the earlier rules that took those calls."""


def coverage(rs: RuleSet, counted: list[dict[str, int]], replay: Replay | None = None) -> dict[str, Any]:
    """Per rule of the file: counted calls (summed over the days' counters), static shadowing and, with a
    replay made with `shadows`, what each rule did on the logged calls."""
    totals: dict[str, int] = {}
    for day in counted:
        for name, n in day.items():
            totals[name] = totals.get(name, 0) + n
    statically = shadowed(rs)
    rows = []
    for r in rs.rules:
        row = RuleCoverage(r.name, totals.get(r.name, 0), statically.get(r.name))
        if replay is not None:
            row.replayed = replay.matched.get(r.name, 0)
            row.held = replay.held.get(r.name, 0)
            row.taken_by = dict(replay.taken_by.get(r.name, {}))
        rows.append(row)
    names = {r.name for r in rs.rules}
    return {
        "rules": [{"name": x.name, "counted": x.counted, "shadowed_by": x.shadowed_by, "replayed": x.replayed,
                   "held": x.held, "taken_by": x.taken_by} for x in rows],
        "never_counted": [x.name for x in rows if not x.counted],
        "shadowed": [{"rule": x.name, "by": x.shadowed_by} for x in rows if x.shadowed_by],
        "shadowed_on_calls": [{"rule": x.name, "held": x.held, "taken_by": x.taken_by} for x in rows
                              if x.held and not x.replayed],
        "fallback": totals.get("fallback", 0),
        "other_names": {n: c for n, c in totals.items() if n not in names and n != "fallback"},
        "calls": sum(totals.values()),
        "logged_calls": replay.calls if replay is not None else None,
    }
