"""What the rules name that the connected Asterisk does not know: queues and PJSIP endpoints.

A target's `queue:` that is no queue in queues.conf, or a `PJSIP/…` that is no endpoint, fails
every call routed there (the walk moves on, but after its timeout). Asterisk lists what it has:
`QueueSummary` (no privilege needed) and `PJSIPShowEndpoints` (the `system` write privilege,
which the router's own AMI user does not hold: `router check --ami` with an admin's user checks
the endpoints too; `router serve` checks the queues and says the endpoints went unchecked).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from panoramisk import Manager

from router.core.rules import RuleSet


@dataclass(frozen=True, slots=True)
class Inventory:
    """What Asterisk said it has; None where it would not say (no module, no permission)."""

    queues: frozenset[str] | None
    endpoints: frozenset[str] | None
    why_not: tuple[str, ...] = ()


def named_queues(rs: RuleSet) -> dict[str, str]:
    """Queue name → where the rule file names it."""
    return {t.queue: f"targets.{name}" for name, t in rs.targets.items() if t.queue}


def named_endpoints(rs: RuleSet) -> dict[str, str]:
    """PJSIP endpoint → where the rule file names it (a manager's endpoint, a target's dial string)."""
    out: dict[str, str] = {}
    dials = [(f"managers.{n}", m.endpoint) for n, m in rs.managers.items()]
    dials += [(f"targets.{n}", t.dial) for n, t in rs.targets.items() if t.dial]
    for where, dial in dials:
        for part in (dial or "").split("&"):  # Dial(PJSIP/101&PJSIP/102) rings both
            tech, _, rest = part.partition("/")
            if tech.upper() == "PJSIP" and rest:
                out.setdefault(rest.split("/", 1)[0].split("@", 1)[0], where)
    return out


def unknown(rs: RuleSet, have: Inventory) -> list[str]:
    """One line per queue or endpoint the rules name and Asterisk lacks, with what to do."""
    lines = []
    for kind, named, known in (("queue", named_queues(rs), have.queues),
                               ("PJSIP endpoint", named_endpoints(rs), have.endpoints)):
        if known is None:
            continue
        for name, where in sorted(named.items()):
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                lines.append(f"{where}: {kind} {name!r} is not known to the connected Asterisk ({hint}it has: "
                             f"{', '.join(sorted(known)) or 'none'}); calls routed there fail until it is added "
                             f"or the rule file names one it has")
    return lines + list(have.why_not)


async def read_inventory(manager: Manager) -> Inventory:
    """Ask a logged-in AMI connection for its queues and PJSIP endpoints.

    Not `as_list=True`: panoramisk 1.4 never completes such an action when Asterisk answers it with
    one `Response: Error` (a refused or unknown action); left to itself it tells a list ("will
    follow", `EventList: start`) from a single answer."""
    queues, endpoints, why_not = None, None, []
    reply = await manager.send_action({"Action": "QueueSummary"})
    if _refused(reply):
        why_not.append("queues not checked: Asterisk refused QueueSummary (is app_queue loaded?)")
    else:
        queues = frozenset(m.get("Queue") for m in reply if m.get("Event") == "QueueSummary" and m.get("Queue"))
    reply = await manager.send_action({"Action": "PJSIPShowEndpoints"})
    if _refused(reply):
        why_not.append("PJSIP endpoints not checked: Asterisk refused PJSIPShowEndpoints (it needs the `system` "
                       "write privilege, which the router's AMI user does not hold; `router check --ami` with an "
                       "admin's AMI user checks them)")
    else:
        endpoints = frozenset(m.get("ObjectName") for m in reply
                              if m.get("Event") == "EndpointList" and m.get("ObjectName"))
    return Inventory(queues, endpoints, tuple(why_not))


def _refused(reply: object) -> bool:
    """A single answer (not a list) is a refusal: a listing always comes as a list."""
    return not isinstance(reply, list)
