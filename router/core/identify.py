"""Who is calling: a `Caller` profile built from the AGI headers and one store snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.core.menus import INPUT_KEY, NOT_ASKED, Asked
from router.core.phones import Number
from router.core.risk import Hit, level_of, live_hits
from router.core.rules import STRATEGIES, SWITCH_MODES, RuleSet
from router.core.snapshot import Snapshot


@dataclass(slots=True)
class Caller:
    raw: str
    name: str
    dnid: str
    number: str
    e164: bool
    kind: str
    callback_after: str | None
    known: bool
    abc: str
    manager: str
    tags: frozenset[str]
    tz: str
    tz_source: str
    local: datetime
    open_followup: str | None
    inbound: tuple[float, ...]
    last_in: float | None
    last_out: float | None
    last_agent: str = ""
    last_agent_at: float | None = None
    last_agent_state: str = ""
    """The last agent's state interface when they answered as a queue member (`Custom:agent1`, `PJSIP/101`)."""
    task_owner: str = ""
    company: str = ""
    company_name: str = ""
    strategy: str = ""
    switch: str = "day"
    """The day/night switch as flipped at runtime (`day` until someone flips it)."""
    choice: str = ""
    """What the caller picked in an IVR menu before the dialplan asked again (`choice=` AGI argument)."""
    menu: str = ""
    key: str = ""
    """The menu the dialplan asked again from, and the key (or `timeout`, `invalid`, `input`) that left it."""
    phone: str = ""
    """The number that called, when the caller was identified by a number they typed (then `number` is the
    customer's)."""
    identified: str = ""
    """How the caller was identified by what they typed (`contract 12345678`), for the reasons and the log."""
    crm: dict[str, str] = field(default_factory=dict)
    """Fields the CRM gave (name, abc, manager, tags, timezone, company, status and free ones)."""
    notes: list[str] = field(default_factory=list)
    """What the profile was built from beyond the plain directory (a company, the CRM…): shown in reasons."""
    prospect: bool = False
    risk: str = "none"
    risk_hits: tuple[Hit, ...] = ()
    _counts: dict[float, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def anonymous(self) -> bool:
        return not self.number

    def calls_within(self, seconds: float, now: float) -> int:
        """Inbound calls in the window, this one included (counted once per window and call)."""
        n = self._counts.get(seconds)
        if n is None:
            since = now - seconds
            n = self._counts[seconds] = 1 + sum(1 for t in self.inbound if t >= since)
        return n


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _crm_fields(answer: dict[str, Any] | None) -> dict[str, str]:
    if not answer or not answer.get("found") or not isinstance(answer.get("fields"), dict):
        return {}
    return {str(k): str(v) for k, v in answer["fields"].items()}


def profile(number: Number, raw: str, name: str, dnid: str, snap: Snapshot, rules: RuleSet,
            now: float, choice: str = "", asked: Asked = NOT_ASKED, phone: str = "", identified: str = "") -> Caller:
    """Pure: the same inputs always give the same Caller. `asked`: the menu the dialplan asked again from;
    `phone` and `identified`: the caller typed a number that named the customer `number`."""
    cust = snap.customer
    last = snap.state
    notes: list[str] = []
    company = snap.company or {}
    choice = choice or asked.choice
    if asked.menu:
        notes.append(f"menu {asked.menu}: " + ("number typed" if asked.digits else f"key {asked.key}"))
        menu = rules.menus.get(asked.menu)
        if menu is None or (asked.key != INPUT_KEY and menu.option(asked.key) is None):
            notes.append(f"menu {asked.menu} has no key {asked.key or '(none)'} in the rules: was the menus' "
                         "dialplan written from older rules? (router ivr dialplan)")
    if identified:
        notes.append(f"identified by {identified}: {number.key}" + "".join(
            f", {k} {cust[k]}" for k in ("abc", "manager") if cust.get(k)))
    if choice:
        notes.append(f"IVR choice: {choice}")
    crm = _crm_fields(snap.crm)
    if snap.crm_note:
        notes.append(snap.crm_note)
    if crm and not cust:
        # known to the CRM only: its record stands in for the customer's (before a company's)
        cust = {"crm": "1", **{k: v for k, v in crm.items() if k in ("name", "abc", "manager", "tags", "timezone")}}
        notes.append("profile from the CRM: " + (", ".join(f"{k} {crm[k]}" for k in ("abc", "manager", "status")
                                                              if crm.get(k)) or "no class or manager"))
    elif company and not cust:
        # a branch number nobody imported: the company's record stands in for the customer's
        cust = {"company": company["id"], **{k: v for k, v in company.items() if k in ("name", "abc", "manager",
                                                                                       "tags")}}
        inherited = ", ".join(f"{k} {company[k]}" for k in ("abc", "manager") if company.get(k)) or "nothing"
        notes.append(f"branch of company {company.get('name') or company['id']}: inherits {inherited}")
    last_in = _float(last.get("in"))
    last_out = _float(last.get("out"))
    ident = rules.identify
    callback_after = None
    if number.anonymous or (not cust and last_in is None and last_out is None):
        kind = "new"
    elif last_out is not None and (last_in is None or last_out > last_in) \
            and now - last_out <= ident.callback_within:
        kind = "callback"
        callback_after = "answered" if last.get("out_ok") == "1" else "missed"
    elif last_in is not None and now - last_in <= ident.repeat_within:
        kind = "repeat"
    else:
        contact = max((t for t in (last_in, last_out) if t is not None), default=None)
        kind = "returning" if contact is not None and now - contact >= ident.returning_after else "known"

    zone = None
    source = "company"
    for candidate, src in ((cust.get("timezone"), "customer"), (number.zone, "number"),
                           (snap.numbering, "numbering plan")):
        zone = _zone(candidate)
        if zone is not None:
            source = src
            break
    if zone is None:
        zone = ZoneInfo(rules.company.timezone)
    tags = cust.get("tags")
    agent_at = _float(last.get("agent_at"))
    agent = last.get("agent", "") if agent_at is not None and now - agent_at <= ident.last_agent_within else ""
    hits = live_hits(snap.risk.get("hits"), now) if snap.risk else ()
    return Caller(
        raw=raw, name=cust.get("name") or name, dnid=dnid, number=number.key, e164=number.e164,
        kind=kind, callback_after=callback_after, known=bool(cust) or kind != "new",
        abc=cust.get("abc", ""), manager=cust.get("manager", ""),
        tags=frozenset(tags.split(";")) if tags else frozenset(),
        tz=zone.key, tz_source=source, local=datetime.fromtimestamp(now, zone),
        open_followup=last.get("followup"), inbound=tuple(snap.inbound), last_in=last_in, last_out=last_out,
        last_agent=agent, last_agent_at=agent_at if agent else None,
        last_agent_state=last.get("agent_state", "") if agent else "",
        task_owner=last.get("task_owner") or snap.risk.get("task_owner", ""),
        company=company.get("id", "") or crm.get("company", ""),
        company_name=company.get("name", "") or crm.get("company", ""), notes=notes, crm=crm,
        prospect=number.e164 and (kind == "new" or last.get("prospect") == "1"),
        strategy=snap.strategy if snap.strategy in STRATEGIES else rules.company.strategy,
        switch=snap.switch if snap.switch in SWITCH_MODES else "day", choice=choice,
        menu=asked.menu, key=asked.key, phone=phone, identified=identified,
        risk=level_of(rules.risk, sum(h.weight for h in hits)) if hits else "none", risk_hits=hits,
    )
