"""Wallboard tokens in Redis: one hash, SHA-256 of a token -> the name of the screen it was made for.

A wallboard token opens the wallboard and nothing else (router/web/access.py); like a personal API
token, only its digest is kept, and a new token for a screen replaces the one it had.
"""

from __future__ import annotations

from router.state.base import StoreBase


class WallboardMixin(StoreBase):
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
