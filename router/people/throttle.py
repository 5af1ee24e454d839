"""How long a sign-in must wait after failures: the first few are free, then each failure doubles the wait.

Counted per address and per account name (router/state/users.py keeps the counters in Redis,
shared by every router, forgotten an hour after the last failure): guessing one person's password
from many addresses, or many people's from one address, slows down alike. A request during the
wait is refused without the password being checked (no hash is spent on it) and counted as
throttled. Pure.
"""

from __future__ import annotations

FREE = 5
"""Failures in a row without any wait (a person mistyping)."""
MAX_WAIT = 900.0


def wait_after(failures: int) -> float:
    """Seconds to wait after `failures` failed sign-ins in a row: 0 for the first FREE, then 2, 4, 8 … 900."""
    return 0.0 if failures < FREE else min(2.0 ** (failures - FREE + 1), MAX_WAIT)


def retry_in(failures: int, last: float, now: float) -> float:
    """Seconds left before the next attempt is heard (0: now)."""
    return max(0.0, last + wait_after(failures) - now)
