"""Who is asking, and whether their role lets them: every `/api/` request is a `Principal` before its handler runs.

A request proves who it is in one of five ways, tried in this order:

| how | who |
|---|---|
| `Authorization: Bearer $ROUTER_API_TOKEN` | the shared admin token (scripts from before accounts) |
| `Authorization: Bearer crt_…` | the person whose API token it is (`router users token NAME`) |
| the session cookie of the login page | the person signed in; a state-changing request must also send `X-CSRF-Token` |
| nothing, while there is no shared token and no account | anyone, as admin: a fresh install and `router demo` |
| `Authorization: Bearer crw_…` on a `WALLBOARD` route | a wallboard screen (`router wallboard token`): those only |

A wallboard token is tried first, and only on the wallboard's own routes: anywhere else it is a
wrong token. `?token=` counts only on the event streams (EventSource cannot send headers). Then `ACCESS` says
which role a route needs (`agent` < `head` < `admin`); a route missing from it needs `admin`, so
a new route is closed until someone decides. An agent reaches a task or a call only when it is
his (`Scope`): the task's owner is his name or one he holds, the call rang or was answered on his
phone, or its customer is his. What a person does is recorded under their account's name; a
body's `"by"` is read only from the shared token and the open mode, where nobody is signed in.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from aiohttp_session import get_session

from router.core.tasks import Task
from router.people.accounts import RANK, TOKEN_PREFIX, WALLBOARD_TOKEN_PREFIX, Role, User, token_digest
from router.people.staff import devices_of
from router.web.keys import ROUTER_KEY, TOKEN_KEY
from router.web.session import valid_session

Via = Literal["session", "token", "shared", "open", "wallboard"]
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STREAMS = frozenset({"/api/decisions/stream", "/api/me/stream", "/api/wallboard/stream"})
WALLBOARD = frozenset({"/api/wallboard", "/api/wallboard/stream"})
"""What a wallboard token opens (GET only)."""
PRINCIPAL = web.RequestKey("principal", object)

ACCESS: dict[tuple[str, str], Role] = {
    ("GET", "/api/me"): "agent",
    ("GET", "/api/me/work"): "agent",
    ("GET", "/api/me/stream"): "agent",
    ("GET", "/api/decisions"): "agent",
    ("GET", "/api/types"): "agent",
    ("POST", "/api/calls/{id}/type"): "agent",
    ("GET", "/api/followups"): "agent",
    ("GET", "/api/followups/{id}"): "agent",
    ("POST", "/api/followups/{id}/take"): "agent",
    ("POST", "/api/followups/{id}/comment"): "agent",
    ("POST", "/api/followups/{id}/close"): "agent",
    ("POST", "/api/followups/{id}/call"): "agent",
    ("GET", "/api/me/next-callback"): "agent",
    ("GET", "/api/strategy"): "agent",
    ("GET", "/api/switch"): "agent",
    ("GET", "/api/decisions/stream"): "head",
    ("GET", "/api/followups/counts"): "head",
    ("GET", "/api/wallboard"): "head",
    ("GET", "/api/wallboard/stream"): "head",
    ("GET", "/api/followups/escalated"): "head",
    ("POST", "/api/followups/{id}/assign"): "head",
    ("GET", "/api/report"): "head",
    ("GET", "/api/report/calls.csv"): "head",
    ("GET", "/api/report/agents.csv"): "head",
    ("GET", "/api/risk"): "head",
    ("GET", "/api/companies"): "head",
    ("POST", "/api/events"): "head",
    ("POST", "/api/switch"): "head",
    ("GET", "/api/replay"): "head",
    ("GET", "/api/coverage"): "head",
    ("GET", "/api/rules/rollout"): "head",
    ("POST", "/api/rules/reload"): "admin",
    ("POST", "/api/rules/promote"): "admin",
    ("POST", "/api/rules/rollback"): "admin",
    ("POST", "/api/strategy"): "admin",
    ("PUT", "/api/companies/{id}"): "admin",
    ("DELETE", "/api/companies/{id}"): "admin",
    ("GET", "/api/users"): "admin",
}
"""The least role each route needs; anything not listed needs `admin`."""
AGENT_SCOPED = frozenset({"/api/followups/{id}", "/api/followups/{id}/take", "/api/followups/{id}/comment",
                          "/api/followups/{id}/close", "/api/followups/{id}/call"})
"""Routes on one task: an agent reaches only his own."""


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    via: Via
    user: User | None = None
    devices: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.user.name if self.user is not None else ""

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    @property
    def scoped(self) -> bool:
        """Sees only his own tasks and calls (an agent)."""
        return not self.at_least("head")

    def owns_task(self, task: Task) -> bool:
        return self.user is not None and task.get("owner", "") in self.user.owner_names

    def owns_call(self, call: dict) -> bool:
        """A decision-log entry, a raw call record or a decision's facts: routed to him, answered by him, or
        his customer's."""
        if self.user is None:
            return False
        names = self.user.owner_names
        outcome = call.get("outcome") or {}
        by = outcome.get("by") or call.get("by") or ""
        caller = call.get("caller") or {}
        steps = {s.get("name", "") for s in call.get("steps") or ()} | {s.get("dest", "") for s in
                                                                        call.get("steps") or ()}
        return bool(by in self.devices or (call.get("manager") or caller.get("manager", "")) in names
                    or call.get("step") in names or steps & (names | self.devices))


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]  # type: ignore[return-value]


def actor(request: web.Request, body: dict) -> str:
    """The name an action is recorded under: the signed-in person's; only the shared token and the open mode,
    where nobody is signed in, may say who in the body's `by`."""
    p = principal(request)
    if p.user is not None:
        return p.user.name
    return str(body.get("by", "")).strip()[:80]


def _denied(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)


def _given(request: web.Request) -> str:
    """The `Authorization` header, or on a stream `?token=` as one."""
    given = request.headers.get("Authorization", "")
    if not given and request.method == "GET" and request.path in STREAMS and request.query.get("token"):
        given = f"Bearer {request.query['token']}"
    return given


async def wallboard_screen(request: web.Request, route: str) -> Principal | None:
    """A wallboard token's screen, on a wallboard route; None otherwise (then the usual ways are tried)."""
    token = _given(request).removeprefix("Bearer ").strip()
    if request.method != "GET" or route not in WALLBOARD or not token.startswith(WALLBOARD_TOKEN_PREFIX):
        return None
    screen = await request.app[ROUTER_KEY].store.wallboard_screen(token_digest(token))
    return Principal("agent", "wallboard") if screen is not None else None


async def identify(request: web.Request) -> Principal | web.Response:
    """The request's principal, or the refusal to send."""
    router = request.app[ROUTER_KEY]
    shared = request.app.get(TOKEN_KEY)
    given = _given(request)
    if given:
        if shared and hmac.compare_digest(given.encode(), f"Bearer {shared}".encode()):
            return Principal("admin", "shared")
        token = given.removeprefix("Bearer ").strip()
        user = await router.store.user_of_token(token_digest(token)) if token.startswith(TOKEN_PREFIX) else None
        if user is None or user.disabled:
            if not shared and not await router.store.has_users():
                return Principal("admin", "open")  # nothing to check a token against: open, as before accounts
            return _denied(401, "missing or wrong bearer token")
        return Principal(user.role, "token", user, devices_of(user, router.rules))
    signed_in = await valid_session(request, await get_session(request))
    if signed_in is not None:
        user, csrf = signed_in
        if request.method in UNSAFE and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), csrf):
            return _denied(403, f"this request needs the page's {CSRF_HEADER} header (GET /api/me gives it)")
        return Principal(user.role, "session", user, devices_of(user, router.rules))
    if not shared and not await router.store.has_users():
        return Principal("admin", "open")
    return _denied(401, "sign in at /login, or send Authorization: Bearer with an API token")


async def _in_scope(request: web.Request, p: Principal, route: str) -> bool:
    """Whether an agent may touch the task or call the route names."""
    router = request.app[ROUTER_KEY]
    target = request.match_info.get("id", "")
    if route in AGENT_SCOPED:
        task = await router.store.task(target)
        return not task or p.owns_task(task)  # an unknown task is the handler's 404
    if route == "/api/calls/{id}/type":
        facts = dict(await router.store.decision_meta(target))
        outcome = (await router.store.outcomes_for([target])).get(target)
        return (not facts and not outcome) or p.owns_call({**facts, "outcome": outcome or {}})  # unknown: a 404
    return True


@web.middleware
async def access(request: web.Request, handler):
    if not request.path.startswith("/api/"):
        return await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    screen = await wallboard_screen(request, route)
    if screen is not None:
        request[PRINCIPAL] = screen
        return await handler(request)
    found = await identify(request)
    if isinstance(found, web.Response):
        return found
    needed = ACCESS.get((request.method, route), "admin")
    if not found.at_least(needed):
        return _denied(403, f"{request.method} {route} needs the {needed} role; {found.name or 'this token'} "
                            f"is {found.role}")
    if found.scoped and not await _in_scope(request, found, route):
        return _denied(403, f"{found.name} is an agent: only his own tasks and calls")
    request[PRINCIPAL] = found
    return await handler(request)
