"""Stalled follow-ups go up: `followup.escalate` levels, each reached once, whichever router runs the check.

A level is due when one of its conditions holds: the task has been overdue for its `after`, counts
`or_count` missed calls, has seen no staff action for `no_reaction`, or has more than
`replies_over` replies. A staff action is what the task records as `last_staff_action` (taken, a
person's comment, a callback attempt); without one `no_reaction` counts from the task's opening.
Replies (`replies` on the task) are the staff's comments and the customer's: another missed call, an
event posted for the number (a ticket comment, a rating). A higher level being due takes the task
through the levels below it first. Each step is a claim in Redis (level N only from N-1, only while
open), so with several routers every level happens exactly once: a new owner, a comment saying why,
an `escalated` webhook, an optional SMS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from router.core.durations import human_duration as human
from router.core.rules import EscalationLevel
from router.core.tasks import Task
from router.followups.followup import Followups
from router.outbox.http import http_message
from router.outbox.templates import render

log = logging.getLogger("router.escalation")


def due_levels(policy: list[EscalationLevel], task: Task, now: float) -> list[tuple[int, EscalationLevel, str]]:
    """The levels above the task's own that are due now, lowest first, each with the reason."""
    level = int(task.get("level") or 0)
    reasons = [_why(lv, task, now) for lv in policy]
    top = max((i for i, r in enumerate(reasons) if r), default=-1)
    out = []
    for i in range(level, top + 1):
        why = reasons[i] or f"passing to level {top + 1}: {reasons[top]}"
        out.append((i + 1, policy[i], why))
    return out


def _why(lv: EscalationLevel, task: Task, now: float) -> str | None:
    """Why this level is due for the task now (the first of its conditions that holds), or None."""
    overdue = now - float(task.get("deadline") or now)
    count = int(task.get("count") or 1)
    replies = int(task.get("replies") or 0)
    acted = task.get("last_staff_action")
    quiet = now - float(acted or task.get("created") or now)
    if lv.after is not None and overdue >= lv.after:
        return f"overdue by {human(overdue)} (this level: after {human(lv.after)})"
    if lv.no_reaction is not None and quiet >= lv.no_reaction:
        since = "the last staff action" if acted else "it was opened, with no staff action"
        return f"{human(quiet)} since {since} (this level: no reaction for {human(lv.no_reaction)})"
    if lv.replies_over is not None and replies > lv.replies_over:
        return f"{replies} replies (this level: more than {lv.replies_over})"
    if lv.or_count is not None and count >= lv.or_count:
        return f"{count} calls without a reaction (this level: {lv.or_count})"
    return None


def scan_from(policy: list[EscalationLevel], now: float) -> float | None:
    """The oldest deadline the periodic check must look at: open tasks due before it may have a level due.
    Every open task when a level counts from the last staff action or its replies (neither follows the
    deadline); None when only missed calls move tasks (checked when they come)."""
    if any(lv.no_reaction is not None or lv.replies_over is not None for lv in policy):
        return float("inf")
    timed = [lv.after for lv in policy if lv.after is not None]
    return now - min(timed) if timed else None


class Escalator:
    def __init__(self, followups: Followups, clock: Callable[[], float] | None = None):
        self.followups = followups
        self.store = followups.store
        self.clock = clock or followups.clock
        self.escalated = 0

    def policy(self) -> list[EscalationLevel]:
        return self.followups.rules().rs.followup.escalate

    async def run(self, now: float | None = None) -> list[tuple[str, int]]:
        """Every open task overdue long enough for the first level; what moved, as (task id, level)."""
        policy = self.policy()
        if not policy:
            return []
        now = self.clock() if now is None else now
        moved: list[tuple[str, int]] = []
        cutoff = scan_from(policy, now)
        if cutoff is None:
            return moved
        for task in await self.store.overdue_tasks(cutoff):
            moved += await self._climb(task, policy, now)
        return moved

    async def check(self, task_id: str, now: float | None = None) -> list[tuple[str, int]]:
        """One task, e.g. after another call raised its count."""
        policy = self.policy()
        task = await self.store.task(task_id) if policy else {}
        if not task or task.get("state") != "open":
            return []
        return await self._climb(task, policy, self.clock() if now is None else now)

    async def _climb(self, task: Task, policy: list[EscalationLevel], now: float) -> list[tuple[str, int]]:
        moved = []
        task_id = task["id"]
        for n, lv, why in due_levels(policy, task, now):
            previous = await self.store.claim_level(task_id, n, lv.to, now, why)
            if previous is None:
                break  # another router took this step (it goes on from there), or the task was closed
            self.escalated += 1
            moved.append((task_id, n))
            text = f"escalated to level {n}: now {lv.to}'s (was {previous or 'nobody'}'s), {why}"
            await self.store.comment(task_id, now, text)
            log.warning("follow-up %s for %s escalated to level %d (%s): %s", task_id, task.get("number"), n,
                        lv.to, why)
            await self.followups.announce("escalated", task_id, "escalated", text)
            if lv.sms_to:
                await self._tell(task_id, lv, n, why, now)
        return moved

    async def _tell(self, task_id: str, lv: EscalationLevel, n: int, why: str, now: float) -> None:
        """A message to the new owner's phone, through the gateway and the outbox like the caller's SMS."""
        rules = self.followups.rules()
        gateway = rules.rs.notify.sms
        if gateway is None or not lv.sms_to:
            return
        task = await self.store.task(task_id)
        task.pop("log", None)
        text = render(rules.rs.followup.escalation_text, {**task, "level": n, "why": why})
        self.followups.outbox.post(http_message(
            "sms", f"{task_id}:sms-escalation", gateway, {**task, "number": lv.sms_to, "text": text},
            f"message to {lv.to} ({lv.sms_to})", task_id, now, rules.rs.notify.retry_for))
