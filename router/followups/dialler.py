"""The worklist that dials itself: for each person the rule file's `callbacks.worklist` covers, the next task in
the strategy's worklist order that may be dialled now.

- `preview`: the person's page asks `offer` (GET /api/me/next-callback) and one click calls it.
- `progressive`: every DIAL_EVERY seconds each router runs `run`: a covered person whose phone is free (its
  device state NOT_INUSE, not paused in any queue) is rung for his next task at once.

Which task (router/core/callbacks.py, `next_candidate`): open tasks in the worklist's order (new connections first
under the expansion strategy), owned by a name the person holds; fewer than `callbacks.attempts` attempts, the
last `callbacks.spacing` ago; the customer's own calling hours in the customer's zone (their record's, else the
one their number implies, else the company's) and the company's working hours on a working day. The claim in
the store (router/state/callbacks.py) then makes sure no other router or agent dials the customer meanwhile and
that the task is still open; a task another agent claimed first is skipped for the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from router.core.callbacks import Candidate, Mode, covered_owners, customer_zone, next_candidate, refusal
from router.core.decide import CompiledRules
from router.core.phones import normalise
from router.core.tasks import Task
from router.followups.callbacks import Callbacks
from router.followups.followup import Followups
from router.people.accounts import User
from router.people.staff import phone_of
from router.state.store import Store

log = logging.getLogger("router.callbacks")

DIAL_EVERY = 5.0
"""Seconds between two looks for free agents: an agent who hangs up is rung for his next task within this."""
FREE = "NOT_INUSE"
PICK_BATCH = 20
"""Tasks whose customers' records are read at a time while looking for the next one to dial."""


@dataclass(frozen=True, slots=True)
class Offer:
    task: Task | None
    mode: Mode | None
    passed: list[str]

    def record(self) -> dict[str, object]:
        return {"task": self.task, "mode": self.mode, "passed": self.passed[:20]}


class Dialler:
    def __init__(self, store: Store, rules: Callable[[], CompiledRules], followups: Followups, callbacks: Callbacks,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.rules = rules
        self.followups = followups
        self.callbacks = callbacks
        self.clock = clock
        self.dialled = 0

    def _queue_owners(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for t in self.rules().rs.targets.values():
            if t.queue and t.owner:
                out.setdefault(t.queue, set()).add(t.owner)
        return out

    async def _candidates(self, tasks: list[Task]) -> list[Candidate]:
        rules = self.rules()
        out: list[Candidate] = []
        for t in tasks:
            number = t.get("number", "")
            record = await self.store.customer(number)
            zone = customer_zone(record.get("timezone"), normalise(number, rules.region).zone, rules.company_zone)
            last = t.get("callback_last")
            out.append(Candidate(t.get("id", ""), number, t.get("owner", ""), int(t.get("callback_attempts") or 0),
                                 float(last) if last else None, zone))
        return out

    async def _pick(self, user: User, tasks: list[Task], skip: set[str]) -> tuple[Candidate | None, Mode | None,
                                                                                 list[str]]:
        rules = self.rules()
        settings = rules.rs.callbacks
        owners, mode = covered_owners(settings, self._queue_owners(), user.owner_names)
        if mode is None:
            return None, None, []
        mine = [t for t in tasks if t.get("owner") in owners and t.get("id") not in skip
                and refusal(t.get("number", ""), settings, rules.region) is None]  # a person dials those by hand
        passed: list[str] = []
        for start in range(0, len(mine), PICK_BATCH):  # most picks end in the first batch: read no further
            found, more = next_candidate(await self._candidates(mine[start:start + PICK_BATCH]), owners, self.clock(),
                                         settings, rules.company_zone, rules.calendar, rules.rs.report.working_hours)
            passed += more
            if found is not None:
                return found, mode, passed
        return None, mode, passed

    async def offer(self, user: User) -> dict[str, object]:
        """The preview worklist: the next task `user` may call now, or none and why each was passed over."""
        found, mode, passed = await self._pick(user, await self.followups.worklist("open"), set())
        task = await self.store.task(found.task_id) if found is not None else None
        if task:
            task.pop("log", None)
        return Offer(task or None, mode, passed).record()

    async def run(self) -> int:
        """Progressive entries: ring each free covered agent for his next task. The callbacks started."""
        settings = self.rules().rs.callbacks
        if not any(e.mode == "progressive" for e in settings.worklist):
            return 0
        tasks = await self.followups.worklist("open")
        if not tasks:
            return 0
        states = await self.store.r.hgetall(self.store.k.devstate)
        paused = await self.store.paused_devices()
        started = 0
        claimed: set[str] = set()
        for user in await self.store.users():
            device = phone_of(user, self.rules())
            if user.disabled or not device or states.get(device) != FREE or device in paused:
                continue
            while True:
                found, mode, _ = await self._pick(user, tasks, claimed)
                if found is None or mode != "progressive":
                    break
                claimed.add(found.task_id)
                result = await self.callbacks.call(found.task_id, device, user.name)
                if result.status == "dialling":
                    started += 1
                    break
                if result.status in ("at_once", "per_minute", "unavailable"):
                    return started  # nothing more this round
        self.dialled += started
        return started
