"""Who a contract number a caller typed in a menu names: the directory, else the CRM.

The directory (customers CSV, column `contract`) keeps contract → number: one round trip reads
it, and the call's usual round trip then reads that customer's record, history and open task
(two in all, one more than a key). A record that no longer holds the contract (re-imported
with another) does not count. When the directory does not know it and the rule file has
`directory.crm.contract_requests`, the CRM is asked within what is left of the call's budget;
its answer stands in for the customer's record, and a `number` it maps names whose history and
open task count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from router.core.phones import Number, normalise
from router.core.rules import CrmDirectory
from router.directory.crm import Crm
from router.state.store import Store

PROFILE_FIELDS = ("name", "abc", "manager", "tags", "timezone")
"""What a CRM answer gives the caller's profile, as a directory record would."""


@dataclass(slots=True)
class Found:
    number: Number | None
    """Whose history and open task count (None: the CRM named nobody's phone; the caller's own then)."""
    source: str
    """`directory` or `CRM`."""
    fields: dict[str, str] = field(default_factory=dict)
    """The CRM's fields (empty for the directory, whose record the call's round trip reads)."""

    def record(self) -> dict[str, str]:
        """The CRM's answer as a directory record, for a customer the directory does not know."""
        return {"crm": "1", **{k: v for k, v in self.fields.items() if k in PROFILE_FIELDS}}


async def find_customer(store: Store, crm: Crm, settings: CrmDirectory | None, contract: str, region: str,
                        budget: float, left: Callable[[], float]) -> Found | None:
    """The customer a contract names, or None. `left()`: seconds left of the call's budget."""
    number = await store.contract_number(contract, budget)
    if number:
        return Found(normalise(number, region), "directory")
    if settings is None or not settings.contract_requests:
        return None
    answer = await crm.by_contract(settings, contract, min(settings.budget_ms / 1000, left()))
    if answer is None or answer.error or not answer.found:
        return None
    phone = normalise(answer.fields.get("number", ""), region)
    return Found(phone if phone.e164 else None, "CRM", answer.fields)
