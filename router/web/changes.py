"""HTTP routes for changing the rules without fear: reload or stage them, promote or roll back a rollout, replay
logged calls on other rules, coverage; and the page that shows them (`/rules`, router/data/rules.html).

Replay and coverage decide thousands of calls again: one runs at a time per router (a second
request gets 429), in a thread that hands the event loop back every half millisecond.
"""

from __future__ import annotations

import asyncio
from importlib import resources

from aiohttp import web

from router.core.decide import CompiledRules
from router.core.rulefile import RuleFileError
from router.replaying import MAX_DAYS, coverage_of, last_days, period, replay_days, rollout_groups
from router.rollout import RolloutError
from router.rulesource import compile_rules
from router.service import Router
from router.state.errors import STORE_ERRORS
from router.web.bodies import optional_object
from router.web.keys import ROUTER_KEY

PAGE = resources.files("router").joinpath("data/rules.html")
RULE_CHOICES = ("file", "staged", "current")
BUSY = asyncio.Lock()
"""One replay or coverage at a time in this process."""


def _error(message: str, status: int, **more) -> web.Response:
    return web.json_response({"error": message, **more}, status=status)


def _who(body: dict) -> str:
    return "".join(ch for ch in str(body.get("by", "")) if ch.isprintable())[:80]


async def reload_rules(request: web.Request) -> web.Response:
    """Without `share`: reload the rule path (refused while a rollout is staged). With `?share=10`: stage the
    rule path for 10 % of callers on every router sharing the store."""
    router = request.app[ROUTER_KEY]
    path = str(router.source.path) if router.source is not None else router.rules.source
    if "share" in request.query:
        try:
            share = int(request.query["share"])
            status = await router.rollouts.stage(share, _who(await optional_object(request, '{"by": "anna"}')))
        except ValueError:
            return _error("share is a whole per cent from 1 to 100, like ?share=10", 400)
        except RolloutError as e:
            return _error(str(e), 422 if e.problems else 409, problems=e.problems, path=path)
        except STORE_ERRORS as e:
            return _error(f"the store did not answer ({type(e).__name__}): nothing was staged", 503)
        return web.json_response({"staged": True, "path": path, **status})
    problems = await router.reload()
    if problems:
        return web.json_response({"reloaded": False, "path": path, "problems": problems,
                                  "in_force": router.rules.source}, status=422)
    return web.json_response({"reloaded": True, "path": path, "rules": len(router.rules.rules)})


async def _end(request: web.Request, promote: bool) -> web.Response:
    router = request.app[ROUTER_KEY]
    who = _who(await optional_object(request, '{"by": "anna"}'))
    try:
        status = await (router.rollouts.promote(who) if promote else router.rollouts.rollback(who))
    except RolloutError as e:
        return _error(str(e), 409)
    except STORE_ERRORS as e:
        return _error(f"the store did not answer ({type(e).__name__}): the rollout is as it was", 503)
    return web.json_response(status)


async def promote(request: web.Request) -> web.Response:
    return await _end(request, True)


async def rollback(request: web.Request) -> web.Response:
    return await _end(request, False)


async def rollout(request: web.Request) -> web.Response:
    """The rollout this router follows and, for a staged or the last one, both groups side by side."""
    router = request.app[ROUTER_KEY]
    status = router.rollouts.status()
    if status.get("since"):
        until = status.get("ended_at") or router.clock()
        try:
            status["groups"] = await rollout_groups(router.store, status["since"], until, router.rules.company_zone)
        except STORE_ERRORS as e:
            status["groups_error"] = f"the store did not answer: {type(e).__name__}"
    return web.json_response(status)


async def _rules_asked(router: Router, choice: str) -> CompiledRules:
    """The rules a replay or coverage is about: the rule path as it is now, the staged candidate, or the rules
    in force. ValueError names a bad choice, LookupError what is missing; RuleFileError passes through."""
    if choice not in RULE_CHOICES:
        raise ValueError(f"rules is one of {', '.join(RULE_CHOICES)}")
    if choice == "current":
        return router.rules
    if choice == "staged":
        if router.rollouts.staged is None:
            raise LookupError("no rollout is staged")
        return router.rollouts.staged.candidate
    if router.source is None:
        raise LookupError("the router was started without a rule path")
    return await asyncio.to_thread(compile_rules, router.source.path, router.source.limits, False)


async def _busy_work(request: web.Request, work, default: str) -> web.Response:
    """`work(router, rules)` under the one-at-a-time lock, for the rules `?rules=` names (else `default`), its
    errors as the admin's answers."""
    router = request.app[ROUTER_KEY]
    if BUSY.locked():
        return _error("a replay or coverage is running on this router: try again when it is done", 429)
    async with BUSY:
        try:
            rules = await _rules_asked(router, request.query.get("rules", default))
            return web.json_response(await work(router, rules))
        except ValueError as e:
            return _error(str(e), 400)
        except LookupError as e:
            return _error(str(e), 409)
        except RuleFileError as e:
            return _error("the rules do not load", 422, problems=[str(p) for p in e.problems])
        except STORE_ERRORS as e:
            return _error(f"the store did not answer: {type(e).__name__}", 503)


async def replay(request: web.Request) -> web.Response:
    """`?day=YYYY-MM-DD` or `?from=…&to=…` (default yesterday), `rules=file|staged|current` (default file: the
    rule path as it is now): the logged calls decided again, and what would change."""
    q = request.query

    async def work(router: Router, rules: CompiledRules) -> dict:
        days = period(q.get("day"), q.get("from"), q.get("to"), rules, router.clock())
        found = await replay_days(router.store, rules, days)
        return {"days": days, "rules": q.get("rules", "file"), "version": rules.version, **found.as_dict()}

    return await _busy_work(request, work, "file")


async def coverage(request: web.Request) -> web.Response:
    """`?days=7` (1 to MAX_DAYS, today included), `rules=file|staged|current` (default current)."""
    try:
        n = int(request.query.get("days", "7"))
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_DAYS:
        return _error(f"days is a whole number from 1 to {MAX_DAYS}", 400)

    async def work(router: Router, rules: CompiledRules) -> dict:
        return {"rules": request.query.get("rules", "current"), "version": rules.version,
                **await coverage_of(router.store, rules, last_days(rules, n, router.clock()))}

    return await _busy_work(request, work, "current")


async def page(request: web.Request) -> web.Response:
    return web.Response(body=PAGE.read_bytes(), content_type="text/html", charset="utf-8")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/rules/reload", reload_rules)
    app.router.add_post("/api/rules/promote", promote)
    app.router.add_post("/api/rules/rollback", rollback)
    app.router.add_get("/api/rules/rollout", rollout)
    app.router.add_get("/api/replay", replay)
    app.router.add_get("/api/coverage", coverage)
    app.router.add_get("/rules", page)
