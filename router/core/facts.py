"""What the follow-ups and the report need to know of a decision once its call has ended. Pure data.

Written beside the decision log when a decision is logged (`Keys.decision`, two days), read when
the call's outcome arrives; a person's correction of the call's type goes there too.
"""

from __future__ import annotations

from typing import TypedDict


class DecisionFacts(TypedDict, total=False):
    rule: str
    step: str
    """The first step's target or manager name."""
    kind: str
    abc: str
    type: str
    type_by: str
    """Who corrected the type, when a person did."""
    at: float
    manager: str
    prospect: bool
    dnid: str
    queue: str
    """The first queue step's queue, if any."""
