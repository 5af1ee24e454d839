"""The rule file's people and phones as the CRM's users. Pure.

A person (a manager, a task owner, an escalation level's `to`, `risk.owner`, …) is the CRM user
`crm.users` names — by id, or by Bitrix24's internal number (UF_PHONE_INNER) — else, for a manager,
the user whose internal number is their endpoint's extension (`PJSIP/101` -> 101). A phone that
rings or answers is the person whose `devices` or endpoint it is, else the user whose internal
number is its extension (`PJSIP/101`, `Local/101@from-queue/n`, `hint:101@ext-local`).

What does not resolve — a name with no user, an id no active user has — is a problem with what to
do about it, listed at start and on /healthz; its calls and tasks go to `crm.default_user`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from router.core.crmrules import CrmSettings
from router.core.rules import RuleSet

_EXTENSION = re.compile(r"^(?:[A-Za-z0-9_]+/|hint:)?(\d{1,20})(?:[@/-]|$)")


@dataclass(frozen=True, slots=True)
class CrmUserRecord:
    """An active user as the CRM lists it."""

    id: int
    inner_phone: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    """What it is about (`user:head_of_sales`): the same problem found again replaces itself."""
    what: str
    advice: str


def extension(device: str) -> str:
    """The extension a device name carries ("" for none): `PJSIP/101` -> 101, `Local/101@from-queue/n` -> 101."""
    m = _EXTENSION.match(device)
    return m.group(1) if m else ""


def people_of(rs: RuleSet) -> list[str]:
    """Every name a call or task can be for, in the order the rule file gives them."""
    names: list[str] = list(rs.managers)
    names.append(rs.followup.owner)
    names += [lv.to for lv in rs.followup.escalate]
    if rs.risk.signals:
        names.append(rs.risk.owner)
    names += [r.owner for r in rs.rules if r.owner]
    names += [t.owner for t in rs.targets.values() if t.owner]
    if rs.crm is not None:
        names += list(rs.crm.users)
    return list(dict.fromkeys(n for n in names if n))


@dataclass
class People:
    by_name: dict[str, int] = field(default_factory=dict)
    by_device: dict[str, int] = field(default_factory=dict)
    by_inner: dict[str, int] = field(default_factory=dict)
    default: int | None = None
    problems: list[Problem] = field(default_factory=list)

    def user(self, name: str) -> int | None:
        """The CRM user of a person; the default user for "" or a name without one; None if neither."""
        return self.by_name.get(name, self.default) if name else self.default

    def device_user(self, devices: list[str]) -> int | None:
        """The CRM user of a phone, by any name it goes by; None when nobody's."""
        for d in devices:
            if d in self.by_device:
                return self.by_device[d]
        for d in devices:
            found = self.by_inner.get(extension(d))
            if found is not None:
                return found
        return None


def resolve(rs: RuleSet, crm_users: list[CrmUserRecord], crm_name: str) -> People:
    """People from the rule file and the CRM's active users."""
    settings = rs.crm or CrmSettings(type="bitrix24")
    active = {u.id for u in crm_users}
    by_inner = {u.inner_phone: u.id for u in crm_users if u.inner_phone}
    people = People(by_inner=by_inner)
    how = "`{id: N}` (the CRM's user id)" + (" or `{inner_phone: \"NNN\"}`" if crm_name == "Bitrix24" else "")
    for name in people_of(rs):
        mapped = settings.users.get(name)
        manager = rs.managers.get(name)
        if mapped is not None and mapped.id is not None:
            uid: int | None = mapped.id if mapped.id in active else None
            why = f"{crm_name} has no active user {mapped.id} (deleted or dismissed?)"
        elif mapped is not None:
            uid = by_inner.get(mapped.inner_phone or "")
            why = f"no active {crm_name} user has the internal number {mapped.inner_phone}"
        elif manager is not None and extension(manager.endpoint):
            uid = by_inner.get(extension(manager.endpoint))
            why = (f"no active {crm_name} user has the internal number {extension(manager.endpoint)} "
                   f"(the extension of {manager.endpoint})")
        else:
            uid, why = None, f"crm.users does not name a {crm_name} user for {name}"
        if uid is None:
            fallback = f"their calls and tasks go to {settings.default_user}'s user" if settings.default_user \
                else "their calls and tasks wait until one is named (or crm.default_user is set)"
            people.problems.append(Problem(f"user:{name}", f"{name}: {why}",
                                           f"name one in the rule file: crm.users.{name}: {how}, then reload the "
                                           f"rules; meanwhile {fallback}"))
            continue
        people.by_name[name] = uid
        for device in (mapped.devices if mapped is not None else []):
            people.by_device[device] = uid
        if manager is not None:
            people.by_device[manager.endpoint] = uid
    if settings.default_user is not None:
        people.default = people.by_name.get(settings.default_user)
    return people
