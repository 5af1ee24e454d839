"""The contract with the dialplan: a decision as the `ROUTE_*` variables the walk reads, in order, and
the whisper (the caller's name as the agent's phone shows it).

Every name comes from router/asterisk/variables.py; the values are escaped for both parsers they
pass when router/asterisk/mset.py puts them into `EXEC MSet` lines.
"""

from __future__ import annotations

from router.asterisk import variables as V
from router.core.decide import CompiledRules, Decision
from router.core.menus import CONTEXT_PREFIX
from router.core.phones import MAX_NAME, cut


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
    dnid = V.plain_dnid(c.dnid) if c is not None else ""
    if dnid and any(step.dest.startswith(CONTEXT_PREFIX) for step in d.steps):
        pairs.append((V.DNID, dnid))  # a menu asks again from its own extensions: it passes this back
    # set here rather than by the dialplan after the AGI: a priority less for Asterisk on every call
    pairs += V.queue_priority([(step.type, step.dest) for step in d.steps], d.priority)
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
