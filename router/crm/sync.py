"""The CRM kept in step: the router's events become queued operations, the outbox's `crm` channel sends them.

`attach(router)` registers, without the router knowing any CRM:

- `Router.answered_listeners`: a routed call's answer is with Asterisk -> `call_start` (never before:
  the listener runs after `AGISession.end_with`, and posting only appends to the outbox's memory);
- `Router.ring_listeners`: a phone rings or stops -> `ring` (every router sees the ring: its `once`
  key makes it one message);
- `Router.outcome_listeners`: a call ended -> `call_end`, queued ahead of the task it opens;
- `Followups.task_listeners`: a task opened, commented, re-assigned, closed -> `task_*`;
- `Outbox.senders["crm"]`: this object, which sends an operation with the connector of `crm.type`.

The people (router/crm/people.py) are read from the CRM at start and whenever the rules change;
each that does not resolve is logged once, kept in the store and shown on /healthz and the live
page with what to do. Nothing is queued while the rule file has no `crm:` section.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from router.core.crmrules import CrmSettings
from router.core.outcome import Outcome
from router.core.ring import Ring
from router.core.tasks import TaskEvent
from router.crm import ops
from router.crm.amocrm import AmoCrm
from router.crm.bitrix24 import Bitrix24
from router.crm.connector import Connector, Refused
from router.crm.jsonhttp import JsonHttp
from router.crm.people import People, resolve
from router.crm.rate import RateLimited, SharedRate
from router.outbox.message import Delivery, Message, new_id
from router.state.errors import STORE_ERRORS

if TYPE_CHECKING:
    from router.service import Router

log = logging.getLogger("router.crm")

CHANNEL = "crm"
USERS_RETRY = 60.0
"""Seconds between attempts to read the CRM's users while it does not answer (at start, after a user is gone)."""
NO_CRM = CrmSettings(type="bitrix24", calls=False, tasks=False)
"""The settings without a `crm:` section: nothing is sent (built once: every routed call asks)."""


class CrmSync:
    def __init__(self, router: Router, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.router = router
        self.store = router.store
        self.clock = router.clock
        self.outbox = router.followups.outbox
        self.http = JsonHttp(SharedRate(self.store, "crm", lambda: self.settings().rate, self.clock, sleep))
        self.connectors: dict[str, Connector] = {"bitrix24": Bitrix24(self), "amocrm": AmoCrm(self)}
        self._people: People | None = None
        self._people_of: tuple[int, str] | None = None
        """Which rules (id of the CompiledRules) and CRM the people were resolved for."""
        self._people_stale_at: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    # what a connector works with (router/crm/connector.py's Context)

    def settings(self) -> CrmSettings:
        found = self.router.rules.rs.crm
        return found if found is not None else NO_CRM

    def zone(self) -> str:
        return self.router.rules.rs.company.timezone

    async def problem(self, key: str, what: str, advice: str) -> None:
        await self.store.set_crm_problem(key, {"what": what, "advice": advice, "since": self.clock()})
        self._people_stale_at = self.clock()

    # the router's events

    def post(self, op: ops.CrmOp | None) -> None:
        crm = self.router.rules.rs.crm
        if op is None or crm is None:
            return
        now = self.clock()
        once, once_for = ops.once_of(op)
        label = ops.label(op, self.connectors[crm.type].label)
        self.outbox.post(Message(new_id(now), CHANNEL, ops.group_of(op), {"crm": crm.type, **op}, label,
                                 op.get("task", ""), now, now + self.router.rules.rs.notify.retry_for, once, once_for))

    def on_answered(self, entry: dict) -> None:
        if self.settings().calls:
            self.post(ops.call_start(entry, self.router.rules.rs))

    def on_ring(self, ring: Ring) -> None:
        if self.settings().calls:
            self.post(ops.ring(ring))

    def on_outcome(self, outcome: Outcome) -> None:
        if self.settings().calls:
            self.post(ops.call_end(outcome))

    def on_task(self, event: TaskEvent) -> None:
        s = self.settings()
        if s.tasks:
            self.post(ops.task_op(event, (s.task_title, s.retention_title)))

    # the outbox's sender for the `crm` channel

    async def deliver(self, message: Message) -> Delivery:
        crm = self.router.rules.rs.crm
        if crm is None:
            return Delivery("rejected", "the rule file has no crm: section any more",
                            "queued while it had one; put the section back to send such messages")
        connector = self.connectors[crm.type]
        try:
            people = await self.people(connector)
            op: ops.CrmOp = {k: v for k, v in message.payload.items() if k != "crm"}  # type: ignore[assignment]
            return await connector.deliver(op, people, message)
        except Refused as r:
            return r.delivery
        except RateLimited as e:
            return Delivery("retry", str(e))
        except (KeyError, TypeError, ValueError) as e:
            return Delivery("rejected", f"unreadable CRM message ({type(e).__name__}: {e})",
                            "queued by another version of the router; it cannot be sent")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.http.close()

    # the people

    async def people(self, connector: Connector) -> People:
        """The people for the rules in force, read from the CRM when the rules changed (or a user went away)."""
        key = (id(self.router.rules), connector.label)
        stale = self._people_stale_at is not None and self.clock() - self._people_stale_at >= USERS_RETRY
        if self._people is not None and self._people_of == key and not stale:
            return self._people
        async with self._lock:
            if self._people is None or self._people_of != key or stale:
                await self._resolve(connector, key)
        assert self._people is not None
        return self._people

    async def _resolve(self, connector: Connector, key: tuple[int, str]) -> None:
        missing = unset(connector)
        if missing is not None:
            raise Refused(missing)
        users = await connector.users()
        people = resolve(self.router.rules.rs, users, connector.label)
        old = {k for k in await self.store.crm_problems() if k.startswith("user:")}
        now = self.clock()
        for p in people.problems:
            if p.key not in old:
                log.error("crm: %s; %s", p.what, p.advice)
            await self.store.set_crm_problem(p.key, {"what": p.what, "advice": p.advice, "since": now})
        for gone in old - {p.key for p in people.problems}:
            await self.store.set_crm_problem(gone, None)
        log.info("crm: %s: %d of %d people mapped to users (%d active users read)", connector.label,
                 len(people.by_name), len(people.by_name) + len(people.problems), len(users))
        self._people, self._people_of, self._people_stale_at = people, key, None

    def start(self) -> None:
        """Read the CRM's users now (off the call path), again every minute until the CRM answers."""
        self._task = asyncio.create_task(self._check_at_start(), name="crm-users")

    async def _check_at_start(self) -> None:
        while (crm := self.router.rules.rs.crm) is not None:
            connector = self.connectors[crm.type]
            try:
                await self.people(connector)
                return
            except Refused as r:
                log.error("crm: %s users not read: %s%s; tried again in %.0f s", connector.label,
                          r.delivery.detail, f" ({r.delivery.advice})" if r.delivery.advice else "", USERS_RETRY)
            except (RateLimited, *STORE_ERRORS) as e:
                log.warning("crm: users not read now (%s); tried again in %.0f s", e, USERS_RETRY)
            await asyncio.sleep(USERS_RETRY)

    async def status(self) -> dict[str, Any]:
        """For /healthz: the CRM, the people mapped, and what stops it with what to do."""
        crm = self.router.rules.rs.crm
        if crm is None:
            return {"type": None}
        problems = await self.store.crm_problems()
        missing = unset(self.connectors[crm.type])
        if missing is not None:
            problems["environment"] = {"what": missing.detail, "advice": missing.advice}
        blocked = (await self.store.outbox_state())[2].get(CHANNEL)
        if blocked:
            problems["channel"] = {"what": blocked.get("error", ""), "advice": blocked.get("advice", ""),
                                   "since": blocked.get("since")}
        body: dict[str, Any] = {"type": crm.type, "problems": [{"about": k, **v} for k, v in sorted(problems.items())]}
        if self._people is not None:
            body["people_mapped"] = len(self._people.by_name)
        return body


def unset(connector: Connector) -> Delivery | None:
    """The connector's address or secret missing from the environment, as the verdict it makes."""
    missing = ", ".join(n for n in connector.env if not os.environ.get(n, "").strip())
    if not missing:
        return None
    return Delivery("blocked", f"{missing} not set", f"set {missing} in the router's environment (docs/crm.md) "
                                                     f"and restart it; until then every CRM message waits")


def attach(router: Router, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> CrmSync:
    """Keep the CRM of the rule file's `crm:` section in step with this router's calls and tasks."""
    sync = CrmSync(router, sleep)
    router.answered_listeners.append(sync.on_answered)
    router.ring_listeners.append(sync.on_ring)
    router.outcome_listeners.append(sync.on_outcome)
    router.followups.task_listeners.append(sync.on_task)
    router.followups.outbox.senders[CHANNEL] = sync
    return sync
