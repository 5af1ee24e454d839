"""Click-to-call: a task's customer called back through an agent's phone, agent first.

`Callbacks.call` checks, in this order, and stops at the first that fails: the task is open; the number passes
`callbacks.allow`/`deny` (router/core/callbacks.py: a refusal is logged, counted for /metrics and written on the
task, naming the pattern); the agent has a phone; the store's claim (router/state/callbacks.py) finds the task
still open, the customer not being dialled by anyone else, and the rate limits not reached — and counts the
attempt on the task. Only then is the Originate sent (router/asterisk/originate.py). What the agent's phone did
is written on the task when Asterisk says; the customer's answer arrives as an outbound call outcome, which
closes the task as any answered callback does (`Followups.on_outcome`) and frees the number's claim here.

Nothing here runs on an inbound call's path: the Originate waits on its own task.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from router.asterisk.originate import ANSWER_MARGIN, DEVICE, OriginateError, OriginateResult, originate_action
from router.core.callbacks import HOLD_SECONDS, refusal
from router.core.decide import CompiledRules
from router.core.outcome import Outcome
from router.reports.tally import day_of, tally_callback
from router.state.store import Store

log = logging.getLogger("router.callbacks")

Status = Literal["dialling", "not_found", "closed", "refused", "no_phone", "busy", "agent_busy", "at_once",
                 "per_minute", "unavailable"]
HTTP_STATUS: dict[Status, int] = {"dialling": 202, "not_found": 404, "closed": 409, "refused": 422,
                                  "no_phone": 422, "busy": 409, "agent_busy": 409, "at_once": 429, "per_minute": 429,
                                  "unavailable": 503}
Originate = Callable[[dict[str, str | list[str]], int], Awaitable[OriginateResult]]


@dataclass(frozen=True, slots=True)
class CallResult:
    status: Status
    message: str
    attempt: int = 0
    done: asyncio.Task[OriginateResult] | None = None
    """The Originate under way (when dialling): its result is written on the task when it comes."""

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.status]

    def record(self) -> dict[str, object]:
        return {"status": self.status, "message": self.message, "attempt": self.attempt}


class Callbacks:
    def __init__(self, store: Store, rules: Callable[[], CompiledRules], clock: Callable[[], float] = time.time):
        self.store = store
        self.rules = rules
        self.clock = clock
        self.originate: Originate | None = None
        """How an Originate reaches Asterisk (`Originator.originate`); None without an originating AMI user."""
        self.counts: Counter[str] = Counter()
        """`refused:PATTERN`, `limited:at_once|per_minute`, `originated`, `agent_answered`, `agent_missed`."""
        self._running: set[asyncio.Task[OriginateResult]] = set()

    async def call(self, task_id: str, device: str, who: str) -> CallResult:
        """Ring `device` (the agent's phone), then the task's customer. `who` is recorded on the task."""
        task = await self.store.task(task_id)
        if not task:
            return CallResult("not_found", f"no task {task_id}")
        if task.get("state") != "open":
            return CallResult("closed", f"task {task_id} is closed: nothing to call back")
        rules = self.rules()
        settings = rules.rs.callbacks
        number = task.get("number", "")
        now = self.clock()
        refused = refusal(number, settings, rules.region)
        if refused is not None:
            self.counts[f"refused:{refused.pattern}"] += 1
            log.warning("callback for task %s by %s not dialled: %s", task_id, who or "?", refused)
            await self.store.comment(task_id, now, f"callback not dialled: {refused}")
            return CallResult("refused", str(refused))
        if not DEVICE.match(device):
            return CallResult("no_phone", f"{who or 'this person'} has no phone the router can ring (a manager entry's "
                                          "endpoint or an account's device like PJSIP/101)")
        if self.originate is None:
            return CallResult("unavailable", "this router has no AMI user to originate with: start it with "
                                             "--ami-originate (see docs/callbacks.md)")
        token = f"{os.urandom(8).hex()}|{task.get('owner', '')}"  # the owner: whose reached callback it is
        claim, attempt = await self.store.claim_callback(
            task_id, number, device, token, now, HOLD_SECONDS + settings.agent_ring,
            settings.agent_ring + ANSWER_MARGIN, settings.max_at_once, settings.per_minute,
            f"callback by {who or 'the worklist'}: ringing {device}, then {number}")
        if claim == "closed":
            return CallResult("closed", f"task {task_id} was closed meanwhile: not dialled")
        if claim == "busy":
            return CallResult("busy", f"{number} is being called back by someone else right now")
        if claim == "agent_busy":
            return CallResult("agent_busy", f"{device} is being rung for another callback right now")
        if claim in ("at_once", "per_minute"):
            self.counts[f"limited:{claim}"] += 1
            limit = (f"{settings.max_at_once} callbacks under way at once" if claim == "at_once"
                     else f"{settings.per_minute} callbacks started this minute")
            log.warning("callback for task %s not dialled: %s (callbacks.%s)", task_id, limit, claim)
            return CallResult(claim, f"not dialled: {limit}, the most callbacks.{claim} allows; try again shortly")
        try:
            action = originate_action(f"cb-{task_id}-{attempt}-{token[:8]}", device, settings.context, number,
                                      task_id, settings.caller_id, settings.agent_ring)
        except OriginateError as e:
            await self.store.release_callback(number, token)
            await self.store.release_agent(device, token)
            return CallResult("no_phone", str(e))
        self.counts["originated"] += 1
        await self.store.count(day_of(now, rules.company_zone), tally_callback("attempted", task.get("owner", "")))
        log.info("callback %s attempt %d: ringing %s for %s, then %s", task_id, attempt, device, who or "worklist",
                 number)
        done = asyncio.create_task(self._originate(task_id, number, device, token, action, settings.agent_ring),
                                   name=f"callback-{task_id}")
        self._running.add(done)
        done.add_done_callback(self._running.discard)
        return CallResult("dialling", f"ringing {device}; when answered, {number} is dialled", attempt, done)

    async def _originate(self, task_id: str, number: str, device: str, token: str,
                         action: dict[str, str | list[str]], ring: int) -> OriginateResult:
        assert self.originate is not None
        result = await self.originate(action, ring)
        await self.store.release_agent(device, token)
        if result.answered:
            self.counts["agent_answered"] += 1
            await self.store.callback_result(task_id, self.clock(), f"{result.text}: dialling {number}")
        else:
            self.counts["agent_missed"] += 1
            await self.store.release_callback(number, token)
            await self.store.callback_result(task_id, self.clock(), f"callback not made: {result.text}")
        return result

    async def on_outcome(self, o: Outcome) -> None:
        """An outbound call to a number ended: a callback of it is over, its claim freed; counted as reached for
        the task's owner when the customer answered."""
        if o.direction != "outbound" or not o.number.startswith("+"):
            return
        token = await self.store.release_callback(o.number)
        if token is not None and o.answered:
            owner = token.partition("|")[2]
            await self.store.count(day_of(o.ended_at or self.clock(), self.rules().company_zone),
                                   tally_callback("reached", owner))

    async def wait(self) -> None:
        """Until every Originate under way has its result (tests, one-shot commands)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
