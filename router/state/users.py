"""Accounts in Redis: one hash of people (name -> JSON record, with the password hash), one of API
tokens (SHA-256 -> name), one of wallboard screens' tokens (SHA-256 -> the screen's name), and
failed-login counters that expire by themselves.

Every router reads the same accounts, so `router users disable` on any host signs the person
out everywhere at their next request (the session's epoch no longer matches).
"""

from __future__ import annotations

import orjson

from router.people.accounts import User
from router.state.base import StoreBase

FAILURES_KEEP = 3600
"""A failed-login counter is forgotten an hour after its last failure."""


class UsersMixin(StoreBase):
    async def put_user(self, user: User, password_hash: str | None = None) -> None:
        """Write an account; its password hash is kept unless a new one is given."""
        key = self.k.users
        old = await self.r.hget(key, user.name)
        kept = orjson.loads(old).get("password", "") if old else ""
        record = {**user.record(), "password": password_hash if password_hash is not None else kept}
        await self.r.hset(key, user.name, orjson.dumps(record))

    async def user(self, name: str) -> tuple[User, str] | None:
        """The account and its password hash, or None."""
        raw = await self.r.hget(self.k.users, name)
        if not raw:
            return None
        record = orjson.loads(raw)
        return User.from_record(record), str(record.get("password") or "")

    async def users(self) -> list[User]:
        found = await self.r.hgetall(self.k.users)
        return sorted((User.from_record(orjson.loads(v)) for v in found.values()), key=lambda u: u.name)

    async def has_users(self) -> bool:
        return bool(await self.r.hlen(self.k.users))

    async def set_token(self, user: User, digest: str) -> None:
        """The person's API token is now the one whose digest is given (their old one stops working)."""
        p = self.r.pipeline(transaction=True)
        if user.token:
            p.hdel(self.k.user_tokens, user.token)
        p.hset(self.k.user_tokens, digest, user.name)
        await p.execute()

    async def drop_token(self, digest: str) -> None:
        await self.r.hdel(self.k.user_tokens, digest)

    async def user_of_token(self, digest: str) -> User | None:
        name = await self.r.hget(self.k.user_tokens, digest)
        found = await self.user(name) if name else None
        return found[0] if found is not None and found[0].token == digest else None

    async def login_failures(self, who: str) -> tuple[int, float]:
        """(failed logins in a row, when the last one was) for `ip:ADDRESS` or `user:NAME`."""
        n, last = await self.r.hmget(self.k.login_failures(who), ["n", "last"])
        return int(n or 0), float(last or 0)

    async def login_failed(self, who: str, at: float) -> int:
        key = self.k.login_failures(who)
        p = self.r.pipeline(transaction=True)
        p.hincrby(key, "n", 1)
        p.hset(key, "last", at)
        p.expire(key, FAILURES_KEEP)
        n, *_ = await p.execute()
        return int(n)

    async def login_succeeded(self, who: str) -> None:
        await self.r.delete(self.k.login_failures(who))

    # wallboard screens: a token each, opening the wallboard and nothing else (router/web/access.py)

    async def set_wallboard_token(self, screen: str, digest: str) -> None:
        """`screen`'s token is now the one whose digest is given; its old one stops working."""
        await self.drop_wallboard_token(screen)
        await self.r.hset(self.k.wallboard_tokens, digest, screen)

    async def drop_wallboard_token(self, screen: str) -> bool:
        """Whether `screen` had a token (it has none now)."""
        found = await self.r.hgetall(self.k.wallboard_tokens)
        old = [d for d, name in found.items() if name == screen]
        if old:
            await self.r.hdel(self.k.wallboard_tokens, *old)
        return bool(old)

    async def wallboard_screen(self, digest: str) -> str | None:
        """The screen a token was made for, or None for a token nobody made (or one replaced since)."""
        name = await self.r.hget(self.k.wallboard_tokens, digest)
        return str(name) if name else None

    async def wallboard_screens(self) -> list[str]:
        return sorted(await self.r.hvals(self.k.wallboard_tokens))
