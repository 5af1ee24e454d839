"""Signing in and out, and who am I: the login page, `POST /login`, `POST /logout`, `GET /api/me`,
`GET /api/users`.

`POST /login` takes the page's form (or JSON `{"name", "password"}` from a script) and answers
303 to the page asked for, 401 with the page again on a wrong name or password (the same answer
for both, after the same work), 429 with `Retry-After` while failures slow the address or the
name down (router/people/throttle.py), 403 when the form was posted from another site's page
(its `Origin`). The password is checked in a thread, two at a time at most: argon2 takes tens
of milliseconds of CPU and 64 MiB each, and a flood of sign-ins must not take the cores from the
calls. Every outcome is counted for /metrics (`callrouter_logins_total`).
"""

from __future__ import annotations

import asyncio
import html
import math
from collections import Counter
from importlib import resources
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import get_session

from router.people.accounts import verify_password
from router.people.throttle import retry_in
from router.web.access import CSRF_HEADER, principal
from router.web.keys import ROUTER_KEY
from router.web.session import sign_in

PAGE = resources.files("router").joinpath("data/login.html")
LOGINS = web.AppKey("logins", Counter)
"""result (`ok`, `failed`, `throttled`, `refused`) -> sign-ins, for /metrics."""
HASHING = web.AppKey("hashing", asyncio.Semaphore)
"""Passwords checked at once (each argon2 check takes 64 MiB and a core for tens of milliseconds)."""
MAX_FIELD = 200


def _page(message: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
    text = PAGE.read_text(encoding="utf-8").replace("<!--error-->", html.escape(message))
    return web.Response(text=text, content_type="text/html", status=status, headers=headers)


def safe_next(value: str) -> str:
    """Where to go after sign-in: a path on this site only (never `//other.host` or a full URL)."""
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/me"


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


async def login_page(request: web.Request) -> web.Response:
    return _page("", 200)


async def login(request: web.Request) -> web.Response:
    counts = request.app[LOGINS]
    as_json = request.content_type == "application/json"
    if not same_origin(request):
        counts["refused"] += 1
        return web.json_response({"error": "sign-in posted from another site"}, status=403)
    form = dict(await (request.json() if as_json else request.post()))
    name = str(form.get("name", "")).strip()[:MAX_FIELD]
    password = str(form.get("password", ""))[:MAX_FIELD]
    router = request.app[ROUTER_KEY]
    store, now = router.store, router.clock()
    address = f"ip:{request.remote or '?'}"
    wait = max(retry_in(*await store.login_failures(address), now),
               retry_in(*await store.login_failures(f"user:{name}"), now))
    if wait > 0:
        counts["throttled"] += 1
        seconds = str(math.ceil(wait))
        message = f"too many failed sign-ins: try again in {seconds} s"
        return (web.json_response({"error": message}, status=429, headers={"Retry-After": seconds}) if as_json
                else _page(message, 429, {"Retry-After": seconds}))
    found = await store.user(name) if name else None
    async with request.app[HASHING]:
        good = await asyncio.to_thread(verify_password, found[1] if found else None, password)
    user = found[0] if found is not None else None
    if not good or user is None or user.disabled:
        counts["failed"] += 1
        await store.login_failed(address, now)
        await store.login_failed(f"user:{name}", now)
        message = "wrong name or password"
        return web.json_response({"error": message}, status=401) if as_json else _page(message, 401)
    await store.login_succeeded(f"user:{name}")
    csrf = await sign_in(request, user)
    counts["ok"] += 1
    if as_json:
        return web.json_response({"signed_in": user.name, "role": user.role, "csrf": csrf})
    raise web.HTTPSeeOther(safe_next(str(form.get("next", "/me"))))


async def logout(request: web.Request) -> web.Response:
    session = await get_session(request)
    form = await request.post() if request.content_type != "application/json" else {}
    given = request.headers.get(CSRF_HEADER) or str(form.get("csrf", ""))
    if session.get("user") and given != session.get("csrf"):
        return web.json_response({"error": f"sign-out needs the page's {CSRF_HEADER}"}, status=403)
    session.invalidate()
    raise web.HTTPSeeOther("/login")


async def me(request: web.Request) -> web.Response:
    p = principal(request)
    session = await get_session(request) if p.via == "session" else {}
    rules = request.app[ROUTER_KEY].rules
    zone = (p.user.zone if p.user is not None else "") or rules.rs.company.timezone
    return web.json_response({"name": p.name, "role": p.role, "via": p.via, "zone": zone,
                              "csrf": session.get("csrf", "") if p.via == "session" else "",
                              "devices": sorted(p.devices)})


async def users(request: web.Request) -> web.Response:
    return web.json_response([u.public() for u in await request.app[ROUTER_KEY].store.users()])


def add_routes(app: web.Application) -> None:
    app[LOGINS] = Counter()
    app[HASHING] = asyncio.Semaphore(2)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/users", users)
