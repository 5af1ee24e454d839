"""Accounts: one person each, a role, the rule file's names they answer for, how to reach them. Pure data
and the password and token primitives.

- A person's `name` is the one the rule file uses for them as a manager (`ivanov`); `holds` are
  owner names they also answer for (`duty`, `head_of_sales`): every task of those owners is theirs.
- Roles, each including the one before: `agent` (his own tasks and calls), `head` (everything:
  reassigns, reads the report and the risk list), `admin` (also reloads rules, switches the
  strategy, manages accounts).
- Passwords are hashed with argon2id (argon2-cffi, RFC 9106's low-memory profile: 64 MiB, 3
  passes); hashing is CPU work, so the web side runs it in a thread, never on the loop that
  answers calls. API tokens are 32 random bytes: their SHA-256 is what the store keeps (a token
  has the entropy a password lacks, so a fast hash is enough), shown once when made.
- `epoch` rises when the password changes or the account is disabled: a session signed in
  under an older epoch is no longer valid.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import asdict, dataclass, field
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["agent", "head", "admin"]
ROLES: tuple[Role, ...] = ("agent", "head", "admin")
RANK = {"agent": 1, "head": 2, "admin": 3}
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
"""A name as the rule file writes a manager or an owner (`ivanov`, `head_of_sales`)."""
TOKEN_PREFIX = "crt_"
WALLBOARD_TOKEN_PREFIX = "crw_"
"""A wallboard token: opens the wallboard and its stream, nothing else (`router wallboard token SCREEN`)."""
MIN_PASSWORD = 10

_hasher = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Verified against when the name is unknown, so that an unknown name takes as long as a wrong password;
    made at the first sign-in, not at import (a hash takes 64 MiB and tens of ms: every command imports this)."""
    return _hasher.hash("a password nobody has")


class AccountError(ValueError):
    """A bad name, role, zone or password: the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    disabled: bool = False
    email: str = ""
    telegram: str = ""
    """The Telegram chat id notices go to (the person starts a chat with the bot, the bot learns it)."""
    zone: str = ""
    """The person's time zone for deadlines on their page and quiet hours ("" = the company's)."""
    quiet_hours: str = ""
    """HH:MM-HH:MM of their own, over the rule file's `people.notices.quiet_hours`."""
    devices: tuple[str, ...] = ()
    """Phones that ring for them beyond what the rule file's manager entry of the same name gives."""
    holds: tuple[str, ...] = ()
    epoch: int = 0
    token: str = field(default="", repr=False)
    """The SHA-256 of their API token, "" when they have none."""

    @property
    def owner_names(self) -> frozenset[str]:
        """The task owners whose tasks are this person's: their own name and the ones they hold."""
        return frozenset((self.name, *self.holds))

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    def record(self) -> dict:
        out = asdict(self)
        out["devices"], out["holds"] = list(self.devices), list(self.holds)
        return out

    @classmethod
    def from_record(cls, d: dict) -> User:
        role = d.get("role")
        return cls(name=str(d["name"]), role=role if role in ROLES else "agent", disabled=bool(d.get("disabled")),
                   email=str(d.get("email") or ""), telegram=str(d.get("telegram") or ""),
                   zone=str(d.get("zone") or ""), quiet_hours=str(d.get("quiet_hours") or ""),
                   devices=tuple(d.get("devices") or ()), holds=tuple(d.get("holds") or ()),
                   epoch=int(d.get("epoch") or 0), token=str(d.get("token") or ""))

    def public(self) -> dict:
        """What the API shows of an account (no token digest, no password hash)."""
        out = self.record()
        out.pop("token")
        out["has_token"] = bool(self.token)
        return out


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise AccountError(f"bad name {name!r}: letters, digits, '_', '.', '@' and '-', up to 64 (the rule file's "
                           "manager or owner name, like ivanov)")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short: at least {MIN_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    """argon2id; slow on purpose (tens of ms): call it off the event loop."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` was made from; an unknown account (None) takes as long."""
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
