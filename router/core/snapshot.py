"""What the store read about one caller at ring time: the input `identify` turns into a profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.core.phones import Number


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
    switch: str | None = None
    """The day/night switch as flipped at runtime, if it ever was (else `day`)."""
    risk: dict[str, str] = field(default_factory=dict)
    crm: dict[str, Any] | None = None
    """The CRM's answer, `{"found": bool, "fields": {…}}`, from the cache or a lookup within budget."""
    crm_note: str = ""
    """How the CRM answer was had, or why there is none ("CRM did not answer in 150 ms")."""


EMPTY = Snapshot({}, {}, [], None, frozenset())


@dataclass(frozen=True, slots=True)
class Seen:
    """What one call was decided from, besides the AGI header: kept with its decision so that the decision
    log can record it (off the call's path) and a replay can decide the call again (router/core/replay.py)."""

    number: Number
    snapshot: Snapshot
    """EMPTY when the store did not answer in time."""
    window: int
    """Seconds of the number's inbound calls the snapshot read (the rules' longest `calls_within`)."""
    store_failed: bool = False
