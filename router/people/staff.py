"""Who is on staff right now, as the card and the notices need it: the accounts, each one's phones, and
which names each one answers for. Read from the store at most every few seconds (an account added
with `router users` on any host is seen within TTL, at once when its person opens a page), never on
the call's path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from router.core.decide import CompiledRules
from router.people.accounts import User
from router.state.store import Store

TTL = 5.0
"""Seconds a read of the accounts is used before the next one."""


def devices_of(user: User, rules: CompiledRules) -> frozenset[str]:
    """Every phone that rings for the person: their own, and their manager entries' endpoint and state."""
    found = set(user.devices)
    for name in user.owner_names:
        m = rules.rs.managers.get(name)
        if m is not None:
            found.update(d for d in (m.endpoint, m.state) if d)
    return frozenset(found)


def phone_of(user: User, rules: CompiledRules) -> str:
    """The phone a callback rings for the person: their manager entry's endpoint, else their first own device;
    "" when they have none."""
    m = rules.rs.managers.get(user.name)
    if m is not None:
        return m.endpoint
    return next((d for d in user.devices if "/" in d and not d.startswith(("Local/", "Custom:"))), "")


def _bare(device: str) -> str:
    """A queue member's interface without app_queue's `/n` (no local optimisation) suffix."""
    return device[:-2] if device.endswith("/n") else device


@dataclass(frozen=True, slots=True)
class StaffView:
    users: dict[str, User] = field(default_factory=dict)
    devices: dict[str, frozenset[str]] = field(default_factory=dict)
    """Account name -> its phones."""

    def ringing(self, devices: Iterable[str]) -> set[str]:
        """The active accounts one of whose phones is among `devices` (a ring's names for what rings)."""
        wanted = {_bare(d) for d in devices if d}
        return {n for n, own in self.devices.items() if not self.users[n].disabled and own & wanted}

    def owners(self, owner: str) -> set[str]:
        """The active accounts whose tasks `owner`'s are (their own name, or a name they hold)."""
        return {n for n, u in self.users.items() if not u.disabled and owner in u.owner_names}


class Staff:
    def __init__(self, store: Store, rules: Callable[[], CompiledRules], ttl: float = TTL):
        self.store = store
        self.rules = rules
        self.ttl = ttl
        self._view = StaffView()
        self._read_at = float("-inf")

    @property
    def last(self) -> StaffView:
        """The accounts as last read, without reading (for what may be a few seconds stale)."""
        return self._view

    def invalidate(self) -> None:
        self._read_at = float("-inf")

    async def view(self) -> StaffView:
        if time.monotonic() - self._read_at > self.ttl:
            users = await self.store.users()
            rules = self.rules()
            self._view = StaffView({u.name: u for u in users}, {u.name: devices_of(u, rules) for u in users})
            self._read_at = time.monotonic()
        return self._view
