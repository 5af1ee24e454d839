"""A callback that keeps the caller's place: the `hold` AGI script a caller reaches by pressing 1 in a queue, and
the rounds that call held places back in their turn.

Pressing 1: the queue's `context = callrouter-hold` (asterisk/queues.conf) takes the caller out of the queue to
`[callrouter-hold]` (dialplans/callrouter-hold.conf), which asks the router (`AGI(…/hold,queue=…,holdtime=…)`).
The router decides (`hold_decision`, router/core/heldplaces.py) from how long he has waited — since his channel
began, read from its Uniqueid (`EPOCH.SEQUENCE`, as Asterisk names channels) — and the queue's estimated wait,
and answers CALLROUTER_HOLD `kept` (his place is kept in the store, his follow-up opened or reused, no SMS; he
hangs up) or `back` (the dialplan puts him back in the queue at the position he left). One store round trip,
one AGI command, on calls that pressed 1 only: an inbound call's own path is unchanged.

The rounds (`run`, with the worklist's, every DIAL_EVERY seconds): for each queue with held places, QueueStatus
says who still waits there and which members are free; the oldest held place is called back through a free
member (agent first, router/followups/callbacks.py) when no live caller began waiting before it (`held_turn`).
The place is dropped when the callback's call ends (answered: the task closes; not: the task stays for a
person), or when it waited `keep` without its turn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from router.asterisk import mset
from router.asterisk import variables as V
from router.asterisk.agi import AGISession
from router.core.callbacks import refusal
from router.core.decide import CompiledRules
from router.core.heldplaces import Member, held_turn, hold_decision
from router.core.outcome import Outcome
from router.core.phones import normalise
from router.followups.callbacks import Callbacks
from router.followups.followup import Followups
from router.reports.tally import day_of, tally_callback
from router.state.errors import STORE_ERRORS
from router.state.store import Store

log = logging.getLogger("router.callbacks")

QueueStatus = Callable[[str, float], Awaitable[tuple[list[float], list[Member]]]]


def channel_began(uniqueid: str, now: float) -> float:
    """When a channel began, from its Uniqueid (`[SYSTEMNAME-]EPOCH.SEQUENCE`); `now` when it does not say."""
    seconds = uniqueid.rpartition("-")[2].partition(".")[0]
    return float(seconds) if seconds.isdigit() and 0 < now - float(seconds) < 86400 else now


class Holds:
    def __init__(self, store: Store, rules: Callable[[], CompiledRules], followups: Followups, callbacks: Callbacks,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.rules = rules
        self.followups = followups
        self.callbacks = callbacks
        self.clock = clock
        self.queue_status: QueueStatus | None = None
        """Who waits in a queue and which members are free (`Originator.queue_status`); None: no rounds."""
        self.kept = 0
        self.called = 0

    async def answer(self, session: AGISession) -> None:
        """The `hold` script: keep the caller's place, or send him back to it."""
        env = session.env
        now = self.clock()
        args = V.agi_args(env)
        queue = "".join(ch for ch in args.get(V.HOLD_QUEUE_ARG, "") if ch.isalnum() or ch in "-_.")[:64]
        try:
            estimated: float | None = float(args.get(V.HOLD_HOLDTIME_ARG, ""))
        except ValueError:
            estimated = None
        rules = self.rules()
        number = normalise(env.get("agi_callerid", ""), rules.region).key
        since = channel_began(env.get("agi_uniqueid", ""), now)
        decision = hold_decision(queue, now - since, estimated, rules.rs.callbacks.hold.get(queue))
        answer, why = (V.HOLD_KEPT, decision.why) if decision.kept else (V.HOLD_BACK, decision.why)
        refused = refusal(number, rules.rs.callbacks, rules.region) if decision.kept else None
        if refused is not None:
            answer, why = V.HOLD_BACK, f"cannot be called back: {refused}"
        if answer == V.HOLD_KEPT:
            try:
                task_id = await self.followups.requested(number, queue, why, now)
                if await self.store.hold_place(queue, number, since, now, task_id):
                    self.kept += 1
                    owner = (await self.store.task(task_id)).get("owner", "")
                    await self.store.count(day_of(now, rules.company_zone), tally_callback("requested", owner))
                log.info("held place: %s keeps his place in %s (%s), task %s", number, queue, why, task_id)
            except STORE_ERRORS as e:
                answer, why = V.HOLD_BACK, f"the store is unavailable ({type(e).__name__})"
                log.error("held place for %s in %s not kept: %s; he is back in line", number, queue, why)
        else:
            log.info("held place: %s back in line in %s (%s)", number or "anonymous", queue or "?", why)
        session.end_with(mset.commands([(V.HOLD, answer)])[0])

    async def run(self) -> int:
        """Call back the oldest held place of each queue whose turn has come. The callbacks started."""
        if self.queue_status is None:
            return 0
        rules = self.rules()
        now = self.clock()
        started = 0
        for queue, settings in rules.rs.callbacks.hold.items():
            for number, since in await self.store.held_places(queue):
                place = await self.store.held_place(number)
                if now - float(place.get("at") or now) > settings.keep:
                    await self.store.drop_held_place(number)
                    await self.store.comment(place.get("task", ""), now,
                                             f"held place in {queue} not reached within {settings.keep} s: left to "
                                             "the task's owner")
                    continue
                if await self.store.dialling(number):
                    break  # being called back now: the next place waits for it
                live, members = await self.queue_status(queue, now)
                device = held_turn(since, live, members)
                if not device:
                    break
                result = await self.callbacks.call(place.get("task", ""), device, f"held place in {queue}")
                if result.status == "dialling":
                    started += 1
                elif result.status == "closed":
                    await self.store.drop_held_place(number)
                    continue
                break
        self.called += started
        return started

    async def on_outcome(self, o: Outcome) -> None:
        """A callback's call ended: the number's claim is freed (`Callbacks.on_outcome`) and a held place is used
        up (an unanswered one leaves the task to its owner)."""
        await self.callbacks.on_outcome(o)
        if o.direction == "outbound" and o.number.startswith("+"):
            await self.store.drop_held_place(o.number)
