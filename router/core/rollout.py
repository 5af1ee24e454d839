"""A staged rollout: which callers new rules route while the others stay on the rules in force, and how each
group fares. Pure.

A caller is in the candidate's share when a hash of their number, salted with the candidate's
version, falls below the share: every router computes the same answer from the number alone,
a caller stays in their group for the whole rollout (every call they make goes the same way),
raising the share keeps everyone already in it, and the next candidate picks another sample.
Withheld numbers stay on the rules in force.
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass, field
from typing import Any

from router.core.decide import CompiledRules

CANDIDATE, CURRENT = "candidate", "current"
"""The two groups, as each decision of a rollout is marked (`rollout` in the log)."""
STAGED, PROMOTED, ROLLED_BACK = "staged", "promoted", "rolled back"
"""A rollout's states."""


def in_share(number: str, share: int, salt: str) -> bool:
    """Whether `number` is among the `share` per cent of callers the candidate `salt` routes."""
    if not number or share <= 0:
        return False
    digest = hashlib.blake2b(number.encode(), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "big") % 100 < share


@dataclass(frozen=True, slots=True)
class Rollout:
    """Two versions of the rules in force at once: `candidate` for `share` % of callers, `current` for the rest."""

    current: CompiledRules
    candidate: CompiledRules
    share: int
    since: float
    by: str = ""

    def rules_for(self, number: str) -> tuple[CompiledRules, str]:
        """The rules that route this caller, and the group's name."""
        if in_share(number, self.share, self.candidate.version):
            return self.candidate, CANDIDATE
        return self.current, CURRENT


@dataclass(slots=True)
class Group:
    """One group's calls since the rollout began: decided, escalated (a busy step sent up or down), answered or
    missed once they ended, and how long answered calls rang."""

    decisions: int = 0
    escalated: int = 0
    answered: int = 0
    missed: int = 0
    ring: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        ended = self.answered + self.missed
        return {"decisions": self.decisions, "escalated": self.escalated,
                "escalated_share": round(self.escalated / self.decisions, 4) if self.decisions else None,
                "answered": self.answered, "missed": self.missed, "not_ended": self.decisions - ended,
                "missed_share": round(self.missed / ended, 4) if ended else None,
                "median_seconds_to_answer": round(statistics.median(self.ring), 1) if self.ring else None}


def side_by_side(entries: list[dict[str, Any]], records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per group, from the rollout's logged decisions (marked `rollout`) and the report's raw records of their
    calls (by decision id; a call not ended has none)."""
    groups = {CURRENT: Group(), CANDIDATE: Group()}
    for e in entries:
        g = groups.get(e.get("rollout", ""))
        if g is None:
            continue
        g.decisions += 1
        g.escalated += bool(e.get("escalated"))
        rec = records.get(e["id"])
        if rec is None:
            continue
        if rec.get("result") == "answered":
            g.answered += 1
            g.ring.append(float(rec.get("ring_seconds") or 0))
        else:
            g.missed += 1
    return {name: g.as_dict() for name, g in groups.items()}
