"""Sign-in sessions: an encrypted cookie (aiohttp-session's EncryptedCookieStorage: Fernet, AES-CBC with
an HMAC) that only the routers holding ROUTER_SESSION_KEY can read or forge.

The cookie holds the person's name, the account's epoch when they signed in, when that was, and
the session's CSRF token; nothing is kept server-side, so every router of a cluster with the same
key accepts it. It is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
sends it along) and `Secure` with ROUTER_COOKIE_SECURE=1 behind HTTPS. A session ends
ROUTER_SESSION_HOURS (default 12) after sign-in, or when idle that long (Fernet's timestamp), or
when the account is disabled or its password changed (its epoch moved on), or on sign-out.

Without ROUTER_SESSION_KEY the router makes a key of its own at start and says so: sign-ins then
last until it restarts and are not accepted by other routers. `router users key` prints one.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets

from aiohttp import web
from aiohttp_session import Session, new_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from router.people.accounts import User
from router.web.keys import ROUTER_KEY

log = logging.getLogger("router.web")

COOKIE = "callrouter_session"
DEFAULT_HOURS = 12
SESSION_SECONDS = web.AppKey("session_seconds", int)


class SessionKeyError(ValueError):
    """ROUTER_SESSION_KEY is set but is not a key: the message says how to make one."""


def session_key(environ: dict[str, str] | None = None) -> tuple[bytes, str | None]:
    """The key from ROUTER_SESSION_KEY (44 characters of URL-safe base64), else a fresh one and the warning
    to log; SessionKeyError for a value that is not a key."""
    env = os.environ if environ is None else environ
    value = env.get("ROUTER_SESSION_KEY", "").strip()
    if not value:
        return Fernet.generate_key(), ("ROUTER_SESSION_KEY is not set: sign-ins last until this router restarts "
                                       "and other routers do not accept them; set it to the output of "
                                       "`router users key` in the router's environment")
    try:
        if len(base64.urlsafe_b64decode(value.encode())) != 32:
            raise ValueError
    except (ValueError, binascii.Error):
        raise SessionKeyError("ROUTER_SESSION_KEY is not a session key (44 characters of URL-safe base64); "
                              "make one with `router users key`") from None
    return value.encode(), None


def session_hours(environ: dict[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    value = env.get("ROUTER_SESSION_HOURS", "").strip()
    if not value:
        return DEFAULT_HOURS
    if not value.isdigit() or not 1 <= int(value) <= 24 * 30:
        raise SessionKeyError(f"ROUTER_SESSION_HOURS={value!r}: write a whole number of hours from 1 to 720")
    return int(value)


def storage(key: bytes, seconds: int, environ: dict[str, str] | None = None) -> EncryptedCookieStorage:
    env = os.environ if environ is None else environ
    return EncryptedCookieStorage(Fernet(key), cookie_name=COOKIE, max_age=seconds, httponly=True, samesite="Strict",
                                  secure=env.get("ROUTER_COOKIE_SECURE", "") == "1")


async def sign_in(request: web.Request, user: User) -> str:
    """A fresh session for `user` (a new cookie: nothing of a session before sign-in survives); its CSRF token."""
    session = await new_session(request)
    csrf = secrets.token_urlsafe(24)
    session.update({"user": user.name, "epoch": user.epoch, "at": request.app[ROUTER_KEY].clock(), "csrf": csrf})
    return csrf


async def valid_session(request: web.Request, session: Session) -> tuple[User, str] | None:
    """The signed-in person and the session's CSRF token; None (and the session ended) when it has expired,
    the account is gone or disabled, or its password changed since."""
    name = session.get("user")
    if not name:
        return None
    router = request.app[ROUTER_KEY]
    found = await router.store.user(str(name))
    user = found[0] if found is not None else None
    expired = router.clock() - float(session.get("at") or 0) > request.app[SESSION_SECONDS]
    if user is None or user.disabled or user.epoch != session.get("epoch") or expired:
        session.invalidate()
        return None
    return user, str(session.get("csrf", ""))
