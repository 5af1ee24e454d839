"""The rule file's `crm:` section: which CRM keeps the calls and tasks, and who is who there. Pure.

```yaml
crm:
  type: bitrix24                 # or amocrm
  create: lead                   # register a caller the CRM does not know as a lead (CRM_CREATE=1); none: don't
  default_user: duty             # whose CRM user gets a call or task whose person has none
  users:                         # router names (managers, owners, escalation levels) -> CRM users
    head_of_sales: {id: 7}                 # the CRM's user id, or
    duty: {inner_phone: "100"}             # Bitrix24's internal number (user.get UF_PHONE_INNER)
    petrova: {id: 9, devices: [PJSIP/102, Local/102@from-queue/n]}
```

A manager of the `managers:` table needs no entry when the extension of their endpoint
(`PJSIP/101` -> 101) is their internal number in Bitrix24. The secret — Bitrix24's incoming
webhook URL, amoCRM's address and token — is read from the environment (ROUTER_BITRIX24_WEBHOOK;
ROUTER_AMOCRM_URL, ROUTER_AMOCRM_TOKEN), never from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CRM_TYPES = ("bitrix24", "amocrm")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmUser(_Section):
    """A person of the rule file as the CRM knows them."""

    id: int | None = Field(None, gt=0)
    """The CRM's user id (Bitrix24: user.get ID; amoCRM: /api/v4/users id)."""
    inner_phone: str | None = Field(None, pattern=r"^[0-9*#]{1,20}$")
    """Bitrix24's internal number of the user (UF_PHONE_INNER), looked up with user.get at start."""
    devices: list[str] = []
    """Phones that are this person's, as AMI names them (`PJSIP/102`, a queue member `Local/102@from-queue/n`)."""

    @model_validator(mode="after")
    def _one_way(self) -> CrmUser:
        if self.id is None and self.inner_phone is None:
            raise ValueError("a CRM user needs `id:` (the CRM's user id) or `inner_phone:` (Bitrix24's internal "
                             "number)")
        return self


class CrmSettings(_Section):
    type: Literal["bitrix24", "amocrm"]
    users: dict[str, CrmUser] = {}
    default_user: str | None = Field(None, min_length=1, max_length=64)
    """The person (a name of `users:` or `managers:`) whose CRM user gets what has nobody mapped."""
    create: Literal["none", "lead"] = "none"
    """A caller the CRM does not know: `lead` creates one when the call is registered (Bitrix24 CRM_CREATE=1)."""
    calls: bool = True
    """Register every routed call, show its card to the phones that ring, finish it with its outcome."""
    tasks: bool = True
    """Follow-up and retention tasks as the CRM's tasks: opened, commented, re-assigned, completed."""
    rate: int = Field(2, ge=1, le=50)
    """Requests per second to the CRM, shared by every router on the store (Bitrix24: 2/s; Enterprise 5/s)."""
    line: str | None = Field(None, max_length=40)
    """Bitrix24's external line number (LINE_NUMBER) calls are registered on."""
    task_title: str = Field("Call back {number} {name}", min_length=1, max_length=250)
    retention_title: str = Field("Keep {number} {name}: at risk of leaving", min_length=1, max_length=250)
    recording_url: str | None = Field(None, pattern=r"^https?://")
    """Where an answered call's recording is, as a template: `{linkedid}`, `{date}` (YYYY/MM/DD of the call's
    start in company time), `{number}`; sent as the call's RECORD_URL when it is finished."""


def crm_problems(crm: CrmSettings | None, managers: set[str]) -> list[tuple[tuple[str | int, ...], str]]:
    """Names the section must know: `default_user` is a person of `users:` or `managers:`."""
    if crm is None or crm.default_user is None:
        return []
    known = set(crm.users) | managers
    if crm.default_user in known:
        return []
    return [(("crm", "default_user"), f"unknown person {crm.default_user!r}: name one of crm.users or managers "
                                      f"({', '.join(sorted(known)) or 'none'})")]
