"""GET /healthz: whether this router routes calls, and what an admin should fix.

The status code answers one question, for a load balancer or systemd's watchdog: can this router
route calls with what it knows? `200` while the store answers, `503` while it does not. What is
wrong but does not stop calls is in the body and leaves the code alone (a restart would not fix it):

- `store_warning`: Redis keeps nothing on disk (asked at start and every 30 s, so fixing Redis
  clears it);
- `outbox`: the messages waiting to leave (SMS, webhooks) — how many, how long the oldest has
  waited, the channels a target refuses outright (a wrong key or URL: `error` and `advice`, what
  to do), how many were given up on and the newest of them with why;
- `rollout`: a staged rollout of new rules, and a problem with one;
- `crm`: what stops the CRM connector (a wrong webhook key, a person without a CRM user);
- `warnings`: the same problems as sentences, one each, for whoever reads the body by eye, with
  what is missing from this router's setup (no AMI, no API token…).

Each store read has a 1 s budget; the outbox part is left out (with why) when the store is away.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from router.service import Router
from router.state.errors import STORE_ERRORS
from router.web.keys import AMI_KEY, CRM_KEY, ROUTER_KEY

STORE_BUDGET = 1.0
"""Seconds each store read of /healthz may take."""


async def outbox_health(router: Router) -> dict[str, Any]:
    """The outbox as /healthz shows it; raises a store error when the store does not answer."""
    async with asyncio.timeout(STORE_BUDGET):
        status = await router.followups.outbox.status()
        newest_dead = await router.store.dead_messages(1) if status.given_up else []
    body: dict[str, Any] = {"depth": status.depth, "oldest_age_seconds": None if status.oldest_age is None
                  else round(status.oldest_age, 1), "unwritten": status.unwritten,
                  "blocked": status.blocked, "given_up": status.given_up}
    if newest_dead:
        d = newest_dead[0]
        body["last_given_up"] = {k: d.get(k, "") for k in ("label", "task", "given_up_at", "why", "advice")}
    return body


def warnings(router: Router, outbox: dict[str, Any] | None) -> list[str]:
    found = [*router.setup_warnings, *([router.store_warning] if router.store_warning else [])]
    for channel, why in sorted(((outbox or {}).get("blocked") or {}).items()):
        found.append(f"{channel}: every message waits: {why.get('error', '')}; {why.get('advice', '')}")
    return found


async def healthz(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    try:
        async with asyncio.timeout(STORE_BUDGET):
            await router.store.ping()
        store = "up"
    except STORE_ERRORS as e:
        store = f"down: {type(e).__name__}"
    body: dict[str, Any] = {
        "status": "ok" if store == "up" else "degraded", "instance": router.instance, "store": store,
        "rules": router.rules.source, "rules_version": router.rules.version, "rule_count": len(router.rules.rules),
        "timezone": router.rules.rs.company.timezone, "decisions": router.decisions, "fallbacks": router.fallbacks,
        "log_pending": len(router.log.pending)}
    if router.store_warning:
        body["store_warning"] = router.store_warning
    outbox: dict[str, Any] | None = None
    if store != "up":
        body["outbox"] = {"unwritten": len(router.followups.outbox.unwritten),
                          "unavailable": "the store is down"}
    else:
        try:
            outbox = await outbox_health(router)
            body["outbox"] = outbox
        except STORE_ERRORS as e:
            body["outbox"] = {"unwritten": len(router.followups.outbox.unwritten),
                              "unavailable": f"the store did not answer ({type(e).__name__})"}
    if router.source is not None:
        rules = router.source.status()
        body["rules_loaded_at"] = rules["loaded_at"]
        body["rules_stale"] = rules["stale"]
        if rules["stale"]:
            body["rules_file_changed_at"] = rules["file_changed_at"]
            body["rules_stale_why"] = rules["why"]
    if router.rollouts.staged is not None or router.rollouts.problem:
        body["rollout"] = router.rollouts.status()
    ami = request.app.get(AMI_KEY)
    if ami is not None:
        body["ami"] = ami.status()  # AMI down degrades what the router knows, not whether calls are routed
    crm = request.app.get(CRM_KEY)
    if crm is not None and store == "up" and router.rules.rs.crm is not None:
        body["crm"] = await crm.status()  # a wrong webhook key or a deleted user, with what to do
    body["warnings"] = warnings(router, outbox)
    return web.json_response(body, status=200 if store == "up" else 503)
