"""Missed calls become follow-up tasks that close themselves once the customer is reached.

A missed inbound call opens a task for the responsible person (the customer's manager, else
the owner the rule or its first target names, else `followup.owner`) with a deadline; another
missed call while it is open adds a comment and raises its count. An answered callback or an
answered inbound call closes it. The caller gets one SMS, at most one per `sms_every` (counted
from when one was sent). SMS and webhooks go through the durable outbox (router/outbox/), which
records each attempt on the task.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from router.core.decide import CompiledRules
from router.core.facts import DecisionFacts
from router.core.outcome import Outcome
from router.core.rules import DEFAULT_ORDER, STRATEGIES
from router.core.tasks import Comment, NewTask, Task, TaskChange, TaskEvent
from router.outbox.http import HttpSender, http_message
from router.outbox.outbox import Outbox
from router.outbox.templates import render, unset_env
from router.reports.tally import day_of, tally_followup_closed, tally_followup_opened
from router.state.store import Store

log = logging.getLogger("router.followup")

CLASS_ORDER = {"A": 1, "B": 2, "C": 3}


def priority(kind: str, abc: str, prospect: bool = False) -> int:
    """0 first: a new connection (a prospect until a conversation was answered), then A, B, C customers,
    then the unclassified."""
    return 0 if kind == "new" or prospect else CLASS_ORDER.get(abc, 4)


def segment(kind: str, abc: str, prospect: bool = False) -> str:
    """What the worklist order of a strategy ranks: `new` (a new caller or a prospect), a class, or empty."""
    return "new" if kind == "new" or prospect else abc if abc in CLASS_ORDER else ""


_SEGMENT_OF_PRIORITY = {"0": "new", "1": "A", "2": "B", "3": "C"}


@dataclass
class Counters:
    opened: int = 0
    commented: int = 0
    closed: int = 0
    sms_unconfigured: int = 0
    """SMS not queued because the gateway's `${NAME}`s are unset."""
    missed_calls: int = 0
    events: list[dict] = field(default_factory=list)
    outbox: Outbox | None = None

    def _count(self, channel: str, *results: str) -> int:
        return sum(self.outbox.counts[(channel, r)] for r in results) if self.outbox is not None else 0

    @property
    def sms_sent(self) -> int:
        return self._count("sms", "sent")

    @property
    def sms_skipped(self) -> int:
        return self.sms_unconfigured + self._count("sms", "skipped")

    @property
    def sms_failed(self) -> int:
        return self._count("sms", "rejected", "given_up")

    @property
    def webhooks_failed(self) -> int:
        return self._count("webhook", "rejected", "given_up")


def default_outbox(store: Store, clock: Callable[[], float]) -> Outbox:
    """SMS and webhooks over one HTTP client."""
    http = HttpSender()
    return Outbox(store, {"sms": http, "webhook": http}, clock)


class Followups:
    def __init__(self, store: Store, rules: Callable[[], CompiledRules], outbox: Outbox | None = None,
                 clock: Callable[[], float] = time.time, publish: Callable[[dict], None] | None = None):
        self.store = store
        self.rules = rules
        self.clock = clock
        self.outbox = outbox or default_outbox(store, clock)
        self.publish = publish
        self.counters = Counters(outbox=self.outbox)
        self.on_closed: Callable[[str], Awaitable[object]] | None = None
        """Told the number of a task that was closed (risk signals count open follow-ups)."""
        self.on_reply: Callable[[str], Awaitable[object]] | None = None
        """Told the id of a task that got a reply (a comment, a customer's event): a level may be due."""
        self.task_listeners: list[Callable[[TaskEvent], None]] = []
        """Told what changed on a task, once, by the router that changed it (a CRM mirrors it)."""

    async def on_outcome(self, o: Outcome) -> None:
        number = o.number
        if not number.startswith("+"):
            return
        now = self.clock()
        answered = o.answered
        if o.direction == "inbound" and not answered:
            if await self.store.held_place(number):
                return  # he pressed 1 and holds his place: a requested callback, not a missed call (no SMS)
            self.counters.missed_calls += 1
            await self.missed(o, now)
        elif answered and not o.ivr:  # a self-service IVR served the call; nobody talked to them
            task_id = o.open_task if o.open_task is not None else await self.store.open_task_of(number)
            if task_id:
                how = (f"callback answered by the customer (by {o.by or 'our side'})" if o.direction == "outbound"
                       else f"the customer called again and was answered by {o.by or 'us'}")
                await self.close(task_id, f"closed automatically: {how}", now)
        elif o.direction == "outbound":
            task_id = o.open_task if o.open_task is not None else await self.store.open_task_of(number)
            if task_id:
                await self.store.comment(task_id, now, "callback attempt not answered", staff=True)
                await self.announce("updated", task_id, "callback_missed", "callback attempt not answered")

    async def missed(self, o: Outcome, now: float) -> str:
        number = o.number
        rules = self.rules()
        settings = rules.rs.followup
        customer = await self.store.customer(number)
        meta = await self.store.decision_meta(o.decision)
        owner = customer.get("manager") or self._rule_owner(rules, meta) or settings.owner
        task_id = f"fu-{int(now * 1000):x}-{os.urandom(2).hex()}"
        task: NewTask = {"id": task_id, "number": number, "name": customer.get("name", ""), "owner": owner,
                "state": "open", "created": now, "deadline": now + settings.deadline,
                "priority": priority(meta.get("kind", "") or ("new" if not customer else ""),
                                     customer.get("abc", "") or meta.get("abc", ""), bool(meta.get("prospect"))),
                "segment": segment(meta.get("kind", "") or ("new" if not customer else ""),
                                   customer.get("abc", "") or meta.get("abc", ""), bool(meta.get("prospect"))),
                "count": 1, "decision": o.decision, "call": o.linkedid,
                "rule": meta.get("rule", "")}
        comment: Comment = {"at": now, "text": f"missed call ({o.reason or 'not answered'}), rang {o.ring_seconds} s"}
        task_id, created = await self.store.open_task(number, task, comment)
        if created:
            await self.store.count(day_of(now, rules.company_zone), tally_followup_opened(owner))
            self.counters.opened += 1
            log.info("follow-up %s opened for %s: missed call from %s, due in %d min", task_id, owner, number,
                     settings.deadline // 60)
        else:
            self.counters.commented += 1
        await self.announce("created" if created else "updated", task_id, "opened" if created else "missed_again",
                            comment["text"])
        await self._sms(task_id, number, customer.get("name", ""), now)
        return task_id

    async def requested(self, number: str, queue: str, why: str, now: float) -> str:
        """A caller who pressed 1 in `queue`: his open follow-up, or a new one (no SMS: he asked to be called).
        The owner: his manager, else the owner the queue's target names, else `followup.owner`."""
        rules = self.rules()
        customer = await self.store.customer(number)
        owner = customer.get("manager") or next((t.owner for t in rules.rs.targets.values()
                                                 if t.queue == queue and t.owner), "") or rules.rs.followup.owner
        task_id = f"fu-{int(now * 1000):x}-{os.urandom(2).hex()}"
        kind = "" if customer else "new"
        task: NewTask = {"id": task_id, "number": number, "name": customer.get("name", ""), "owner": owner,
                         "state": "open", "created": now, "deadline": now + rules.rs.followup.deadline,
                         "priority": priority(kind, customer.get("abc", "")),
                         "segment": segment(kind, customer.get("abc", "")), "count": 1, "reason": why[:500]}
        comment: Comment = {"at": now, "text": f"callback requested in queue {queue}: place kept ({why})"}
        task_id, created = await self.store.open_task(number, task, comment)
        if created:
            self.counters.opened += 1
        await self.announce("created" if created else "updated", task_id, "opened" if created else "commented",
                            comment["text"])
        return task_id

    @staticmethod
    def _rule_owner(rules: CompiledRules, meta: DecisionFacts) -> str:
        for r in rules.rs.rules:
            if r.name == meta.get("rule") and r.owner:
                return r.owner
        target = rules.rs.targets.get(meta.get("step", ""))
        return target.owner if target is not None and target.owner else ""

    async def close(self, task_id: str, reason: str, now: float | None = None) -> bool:
        at = self.clock() if now is None else now
        done = await self.store.close_task(task_id, at, reason)
        if done:
            task = await self.store.task(task_id)
            await self.store.count(day_of(at, self.rules().company_zone), tally_followup_closed(task, at))
            self.counters.closed += 1
            log.info("follow-up %s closed: %s", task_id, reason)
            await self.announce("closed", task_id, "closed", reason)
            if self.on_closed is not None:
                number = (await self.store.task(task_id)).get("number", "")
                await self.on_closed(number)
        return done

    async def open_retention(self, number: str, reason: str, now: float) -> str | None:
        """A retention task for a customer who entered the at-risk list; None if one is open already."""
        settings = self.rules().rs.risk
        customer = await self.store.customer(number)
        task_id = f"rt-{int(now * 1000):x}-{os.urandom(2).hex()}"
        task: NewTask = {"id": task_id, "kind": "retention", "number": number, "name": customer.get("name", ""),
                "owner": customer.get("manager") or settings.owner, "state": "open", "created": now,
                "deadline": now + settings.deadline, "priority": CLASS_ORDER.get(customer.get("abc", ""), 4),
                "count": 1, "reason": reason[:500]}
        created = await self.store.open_retention_task(number, task, {"at": now, "text": f"at risk: {reason}"})
        if created:
            self.counters.opened += 1
            log.info("retention task %s opened for %s: %s at risk (%s)", task_id, task["owner"], number, reason)
            await self.announce("at_risk", task_id, "retention_opened", reason)
        return created

    async def take(self, task_id: str, who: str) -> bool:
        done = await self.store.take_task(task_id, who, self.clock())
        if done:
            await self.announce("updated", task_id, "taken", who)
        return done

    async def comment(self, task_id: str, who: str, text: str) -> bool:
        task = await self.store.task(task_id)
        if not task:
            return False
        said = f"{who}: {text}" if who else text
        await self.store.comment(task_id, self.clock(), said, staff=True, replies=1)
        await self.announce("updated", task_id, "commented", said)
        await self._replied(task_id)
        return True

    async def customer_events(self, number: str, kinds: list[str], now: float) -> None:
        """Events posted for a number (a ticket comment, a rating…): replies on its open follow-up, if any."""
        task_id = await self.store.open_task_of(number) if kinds else None
        if not task_id:
            return
        await self.store.comment(task_id, now, "customer: " + ", ".join(kinds[:10]), replies=len(kinds))
        await self._replied(task_id)

    async def _replied(self, task_id: str) -> None:
        if self.on_reply is not None:
            await self.on_reply(task_id)

    async def _sms(self, task_id: str, number: str, name: str, now: float) -> None:
        rules = self.rules()
        gateway, settings = rules.rs.notify.sms, rules.rs.followup
        if gateway is None:
            return
        if missing := unset_env(gateway):
            self.counters.sms_unconfigured += 1
            await self.store.comment(task_id, now, "SMS not sent: the gateway needs " + ", ".join(
                f"${{{n}}}" for n in missing) + " set in the router's environment")
            return
        values = {"number": number, "name": name, "task_id": task_id, "chat_link": settings.chat_link}
        values["text"] = render(settings.sms_text, values)
        self.outbox.post(http_message("sms", f"{task_id}:sms", gateway, values, f"SMS to {number}", task_id, now,
                                      rules.rs.notify.retry_for, once=f"sms:{number}", once_for=settings.sms_every))

    async def announce(self, event: str, task_id: str, change: TaskChange | None = None, text: str = "") -> None:
        task = await self.store.task(task_id)
        task.pop("log", None)
        if self.publish is not None:
            self.publish({"type": "followup", "event": event, "task": task})
        if change is not None:
            told = TaskEvent(change, task, text, self.clock())
            for listener in self.task_listeners:
                listener(told)
        notify = self.rules().rs.notify
        now = self.clock()
        for i, hook in enumerate(notify.webhooks):
            if event in hook.events:
                values = {"event": event, **task, **self._crm_values(task)}
                self.outbox.post(http_message("webhook", f"{task_id}:webhook{i}", hook, values,
                                              f"webhook {event} → {hook.url.split('?')[0]}", task_id, now,
                                              notify.retry_for))

    def _crm_values(self, task: Task) -> dict[str, str]:
        """`{deadline_iso}` (ISO 8601 with the company's offset, as CRMs take dates) and `{owner_id}` (the owner's
        CRM user id from the rule file's crm.users, "" without one) for webhook templates."""
        rs = self.rules().rs
        deadline = datetime.fromtimestamp(float(task.get("deadline") or 0), ZoneInfo(rs.company.timezone))
        mapped = rs.crm.users.get(task.get("owner", "")) if rs.crm is not None else None
        return {"deadline_iso": deadline.isoformat(timespec="seconds"),
                "owner_id": str(mapped.id) if mapped is not None and mapped.id is not None else ""}

    async def drain(self) -> None:
        """Write what was posted to the outbox and send everything due now (tests, one-shot commands)."""
        await self.outbox.write()
        while await self.outbox.deliver_due():
            pass

    async def worklist(self, state: str = "open", manager: str | None = None) -> list[Task]:
        now = self.clock()
        tasks = await self.store.tasks("closed" if state == "closed" else "open")
        out: list[Task] = []
        for t in tasks:
            t["overdue"] = t.get("state") == "open" and float(t["deadline"]) < now
            if state == "overdue" and not t["overdue"]:
                continue
            if manager and t.get("owner") != manager:
                continue
            out.append(t)
        order = await self.order()
        rank = {seg: i for i, seg in enumerate(order)}

        def key(t: Task) -> tuple[int, float]:
            seg = t.get("segment", _SEGMENT_OF_PRIORITY.get(str(t.get("priority")), ""))
            return rank.get(seg, len(order)), float(t.get("deadline", 0))

        out.sort(key=key)
        return out

    async def order(self) -> list[str]:
        """The worklist order of the strategy in force (switched at runtime, else the rule file's)."""
        rs = self.rules().rs
        switched = (await self.store.strategy()).get("strategy")
        strategy = next((s for s in STRATEGIES if s == switched), rs.company.strategy)
        return list(rs.followup.order.get(strategy) or DEFAULT_ORDER[strategy])

    async def counts(self) -> dict[str, dict[str, int]]:
        per: dict[str, dict[str, int]] = {}
        for t in await self.worklist("open"):
            c = per.setdefault(t.get("owner", ""), {"open": 0, "overdue": 0})
            c["open"] += 1
            c["overdue"] += int(t["overdue"])
        return per
