"""What the store read about one caller at ring time: the input `identify` turns into a profile."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Snapshot:
    """Everything the store knows about one caller at ring time, read in one round trip."""

    customer: dict[str, str]
    state: dict[str, str]
    inbound: list[float]
    numbering: str | None
    busy: frozenset[str]
    company: dict[str, str] | None = None
    """The company whose branch numbers hold this number: id, name, abc, manager, tags."""
    strategy: str | None = None
    """The strategy switched at runtime, if any (else the rule file's)."""
    risk: dict[str, str] = field(default_factory=dict)
    crm: dict | None = None
    """The CRM's answer, `{"found": bool, "fields": {…}}`, from the cache or a lookup within budget."""
    crm_note: str = ""
    """How the CRM answer was had, or why there is none ("CRM did not answer in 150 ms")."""


EMPTY = Snapshot({}, {}, [], None, frozenset())
