"""Replay: logged calls decided again by other rules, and what would have changed. Pure.

Each logged decision carries what it was decided from (router/core/replayrecord.py); `redecide`
runs `profile` and `decide` on it with the rules given, exactly as the router did at ring time —
the same caller profile inputs, busy devices, strategy and moment. `Replay` compares each new
decision with the logged one and sums the differences up:

- a call **changes** when its rule, its chain (each step's type, destination and timeout), its
  priority or its call type differ; it **goes elsewhere** when its chain differs;
- changed calls are grouped by (old rule → new rule) and, for those going elsewhere, by (old first
  step → new first step), with a few examples each;
- a missed call (its outcome, given to `missed`) that goes elsewhere is **sent to someone free**
  when the new first step's device was not busy when it rang (a queue or IVR without a `state:`
  device cannot tell: counted apart);
- what the record cannot tell the new rules is counted as **inexact** rather than guessed: a
  `calls_within` window longer than the history the call read, a CRM the old rules did not ask.
  Entries logged without a record cannot be replayed at all and are counted too.

With `shadows`, every rule is also tried on every call (not only until the first that holds):
a rule that held for some calls but was never the first to hold was shadowed on these calls by
the rules that took them (router/core/coverage.py reports it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from router.core.conditions import holds
from router.core.decide import CompiledRules, Decision, Step, decide, fallback_decision
from router.core.identify import Caller, profile
from router.core.replayrecord import Inputs, inputs

EXAMPLES = 3
"""Examples kept per group."""
CHANGES = ("rule", "chain", "priority", "type")


def redecide(rules: CompiledRules, found: Inputs) -> tuple[Decision, Caller]:
    """The decision `rules` would have made for a logged call, and the caller's profile under them."""
    caller = profile(found.number, found.raw, found.name, found.dnid, found.snapshot, rules.rs, found.now,
                     choice=found.choice)
    if found.store_failed:
        return fallback_decision(rules, caller, found.now, "store unavailable"), caller
    return decide(rules, caller, found.snapshot.busy, found.now), caller


def chain(steps: Iterable[Step] | Iterable[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(s.type, s.dest, s.timeout) if isinstance(s, Step) else (s["type"], s["dest"], int(s["timeout"]))
            for s in steps]


def first_label(steps: list[Step] | list[dict[str, Any]]) -> str:
    """A chain's first step as the admin names it: the target or manager, else the device (a last agent)."""
    if not steps:
        return "(no step)"
    s = steps[0]
    name, dest = (s.name, s.dest) if isinstance(s, Step) else (s.get("name", ""), s["dest"])
    return name if name and name != "last_agent" else dest


def chain_text(steps: list[Step] | list[dict[str, Any]]) -> str:
    return " → ".join(f"{t} {d}" for t, d, _ in chain(steps)) or "(no step)"


@dataclass(slots=True)
class Group:
    """Calls that moved the same way, and a few of them."""

    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, example: dict[str, Any]) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)


@dataclass(slots=True)
class Replay:
    """The sum of a period's calls decided again; feed it entries, then the outcomes of `changed_ids`."""

    rules: CompiledRules
    shadows: bool = False
    calls: int = 0
    unchanged: int = 0
    changed: int = 0
    elsewhere: int = 0
    no_record: int = 0
    inexact: Counter[str] = field(default_factory=Counter)
    by_rule: dict[tuple[str, str], Group] = field(default_factory=dict)
    by_first: dict[tuple[str, str], Group] = field(default_factory=dict)
    matched: Counter[str] = field(default_factory=Counter)
    """New rule name -> calls it decided."""
    versions: Counter[str] = field(default_factory=Counter)
    """Rules version that decided the logged calls ("" when not known) -> calls."""
    held: Counter[str] = field(default_factory=Counter)
    """With `shadows`: rule name -> calls it held for, first or not."""
    taken_by: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    """With `shadows`: rule name -> the earlier rules that took the calls it held for, and how many."""
    missed_changed: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict[str, Any])
    """Decision id -> (day, example) of calls going elsewhere whose outcome is not known yet."""
    missed_free: Group = field(default_factory=Group)
    missed_unknown: Group = field(default_factory=Group)
    missed_busy: Group = field(default_factory=Group)
    _seen_ids: set[str] = field(default_factory=set)

    def add(self, entry: dict[str, Any], day: str = "") -> None:
        if entry["id"] in self._seen_ids:
            return
        self._seen_ids.add(entry["id"])
        self.calls += 1
        self.versions[entry.get("rules_version", "")] += 1
        found = inputs(entry)
        if found is None:
            self.no_record += 1
            return
        self._inexact(found)
        new, caller = redecide(self.rules, found)
        self.matched[new.rule] += 1
        if self.shadows:
            self._held(caller, found.now, new)
        old_steps = entry["steps"]
        what = [k for k, differs in (("rule", entry["rule"] != new.rule),
                                     ("chain", chain(old_steps) != chain(new.steps)),
                                     ("priority", entry["priority"] != new.priority),
                                     ("type", entry.get("type", "") != new.type)) if differs]
        if not what:
            self.unchanged += 1
            return
        self.changed += 1
        example = _example(entry, new, what)
        self.by_rule.setdefault((entry["rule"], new.rule), Group()).add(example)
        if "chain" in what:
            self.elsewhere += 1
            self.by_first.setdefault((first_label(old_steps), first_label(list(new.steps))), Group()).add(example)
            free = self._free(new, found)
            example["new"]["first_free"] = free
            self.missed_changed[entry["id"]] = (day, example)

    def _inexact(self, found: Inputs) -> None:
        rules = self.rules
        if found.store_failed or not found.number.key:
            return
        if rules.calls_window > found.window:
            self.inexact["calls_within"] += 1
        if rules.rs.directory.crm is not None and found.number.e164 and not found.crm_known:
            self.inexact["crm"] += 1

    def _held(self, caller: Caller, now: float, new: Decision) -> None:
        """Every rule that holds for this caller, and which one took the call."""
        m = self.rules.moment(caller, now)
        first = None
        for rule in self.rules.candidates(caller):
            if holds(rule.checks, caller, m):
                self.held[rule.name] += 1
                if first is None:
                    first = rule.name
                else:
                    self.taken_by[rule.name][first] += 1

    def _free(self, new: Decision, found: Inputs) -> bool | None:
        """Whether the new first step's device was free when the call rang; None when it has none to tell."""
        if not new.steps:
            return None
        step = new.steps[0]
        device = self.rules.device(step.name) if step.name in self.rules.entries else (
            step.dest if step.type == "dial" else None)
        return None if device is None else device not in found.snapshot.busy

    def outcomes(self, records: dict[str, dict[str, Any]]) -> None:
        """The report's raw records of calls in `changed_ids()`: missed calls going elsewhere, by whether the
        new first step was free."""
        for decision_id, record in records.items():
            if decision_id not in self.missed_changed or record.get("result") != "missed":
                continue
            _, example = self.missed_changed[decision_id]
            free = example["new"]["first_free"]
            (self.missed_free if free else self.missed_busy if free is False else self.missed_unknown).add(example)

    def changed_ids(self) -> dict[str, list[str]]:
        """Day -> decision ids of the calls going elsewhere (whose outcomes `outcomes` wants)."""
        per: dict[str, list[str]] = defaultdict(list)
        for decision_id, (day, _) in self.missed_changed.items():
            per[day].append(decision_id)
        return dict(per)

    def as_dict(self) -> dict[str, Any]:
        def groups(table: dict[tuple[str, str], Group]) -> list[dict[str, Any]]:
            return [{"from": a, "to": b, "count": g.count, "examples": g.examples}
                    for (a, b), g in sorted(table.items(), key=lambda kv: (-kv[1].count, kv[0]))]

        def listed(g: Group) -> dict[str, Any]:
            return {"count": g.count, "examples": g.examples}

        return {"calls": self.calls, "unchanged": self.unchanged, "changed": self.changed,
                "elsewhere": self.elsewhere, "no_record": self.no_record, "inexact": dict(self.inexact),
                "by_rule": groups(self.by_rule), "by_first_step": groups(self.by_first),
                "missed_to_free": listed(self.missed_free), "missed_to_busy": listed(self.missed_busy),
                "missed_to_unknown": listed(self.missed_unknown), "matched": dict(self.matched),
                "decided_by": dict(self.versions)}


def _example(entry: dict[str, Any], new: Decision, what: list[str]) -> dict[str, Any]:
    old_caller = entry.get("caller") or {}
    return {"id": entry["id"], "at": entry["at"], "number": old_caller.get("number", ""), "what": what,
            "old": {"rule": entry["rule"], "chain": chain_text(entry["steps"]), "priority": entry["priority"],
                    "type": entry.get("type", "")},
            "new": {"rule": new.rule, "chain": chain_text(list(new.steps)), "priority": new.priority,
                    "type": new.type, "reasons": new.reasons}}
