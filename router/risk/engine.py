"""The at-risk list, kept up to date as events and calls arrive — never by scanning customers.

Each new event recomputes its number's risk from that number's own events (one slot in Redis)
and stores the result in `cr:{number}:risk`, which the call's one round trip reads at ring
time. A number entering `at_risk` joins the list (sorted sets by entry time and by the list's
order: router/state/risk.py), gets a retention task and fires the `at_risk` webhook, once across
routers. The stored state also says when its earliest signal ages out; a periodic sweep
recomputes only those numbers. The list is read a page at a time, in the order it is kept in.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta

from router.core.decide import CompiledRules
from router.core.outcome import Outcome
from router.core.risk import CALL, Event, evaluate, level_of, live_hits, next_change
from router.followups.followup import Followups
from router.state.base import Command
from router.state.risk import Ranked
from router.state.store import Store

log = logging.getLogger("router.risk")


PAGE = 500
"""Entries read per round of `listing` (the whole list, for the command line)."""


def call_event(o: Outcome, call_type: str = "") -> tuple[str, Event] | None:
    """A finished call (an AMI outcome) as the number's event; None for numbers that are not customers'."""
    if not o.number.startswith("+"):
        return None
    return o.number, Event(f"call:{o.linkedid}:{o.direction}", CALL, o.started, type=call_type,
                           direction=o.direction, result=o.result)


class Risk:
    def __init__(self, store: Store, rules: Callable[[], CompiledRules], followups: Followups,
                 clock: Callable[[], float]):
        self.store = store
        self.rules = rules
        self.followups = followups
        self.clock = clock
        self.entered = 0

    async def add(self, events: list[tuple[str, Event]], now: float | None = None) -> int:
        """Store events (each id once) and recompute the numbers that got new ones; how many were new."""
        now = self.clock() if now is None else now
        keep_since = now - self.rules().rs.risk.keep_events
        per: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
        for number, e in events:
            per[number].append((e.id, e.at, e.packed()))
        added = 0
        for number, items in per.items():
            n = await self.store.add_events(number, items, keep_since, now)
            if n:
                added += n
                await self.refresh(number, now)
                # the customer's own events are replies on their open follow-up (calls count there already)
                kinds = [e.kind for num, e in events if num == number][-n:]
                await self.followups.customer_events(number, [k for k in kinds if k != "call"], now)
        return added

    def call_writes(self, o: Outcome) -> list[Command]:
        """The call as the number's event, written in its outcome's round trip (`Store.record_outcome`):
        the outcome's claim already makes it once. Marks `o` so that `on_outcome` does not add it again."""
        found = call_event(o, o.type)
        if found is None:
            return []
        number, e = found
        now = self.clock()
        o.event_written = True
        return self.store.call_event_writes(number, e.id, e.at, e.packed(), now - self.rules().rs.risk.keep_events,
                                            now)

    async def on_outcome(self, o: Outcome) -> None:
        """A call ended: it counts as an event of its type; the open follow-up may have changed too."""
        if o.event_written:
            await self.refresh(o.number)
            return
        call_type = o.type
        if not call_type and o.decision:
            call_type = (await self.store.decision_meta(o.decision)).get("type", "")
        found = call_event(o, call_type)
        if found is not None and not await self.add([found]):
            await self.refresh(found[0])

    async def refresh(self, number: str, now: float | None = None) -> dict:
        """Recompute one number's risk; enter or leave the list; open a retention task on entering."""
        if not number:
            return {}
        now = self.clock() if now is None else now
        rules = self.rules()
        rs = rules.rs.risk
        if not rs.signals:
            return {}

        def compute(packed: list[str], old: dict, followup_calls: int) -> dict:
            hits = evaluate(rs, [Event.unpack(p) for p in packed], followup_calls, now, rules.company_zone)
            score = sum(h.weight for h in hits)
            level = level_of(rs, score)
            new = {"level": level, "score": score, "hits": json.dumps([h.as_dict() for h in hits]),
                   "updated": now} if hits else {}
            if level == "at_risk":
                new["since"] = old.get("since") if old.get("level") == "at_risk" and old.get("since") else now
            if old.get("task"):
                new["task"] = old["task"]
            due = next_change(hits)
            if due is not None:
                new["due"] = due
            return new

        old, new = await self.store.update_risk(number, now - rs.window(), compute)
        await self.store.set_risk_listing(number, float(new["since"]) if "since" in new else None,
                                          float(new["due"]) if "due" in new else None, new.get("score", 0))
        was, now_level = old.get("level", "none"), new.get("level", "none")
        if was != now_level:
            log.info("%s: risk %s → %s (score %s)", number, was, now_level, new.get("score", 0))
        if now_level == "at_risk" and was != "at_risk":
            self.entered += 1
            reason = "; ".join(f"{h['name']} ({h['text']})" for h in json.loads(new["hits"]))
            opened = await self.followups.open_retention(number, reason, now)
            if opened is None and new.get("task"):  # back on the list while the last retention task is open
                await self.followups.store.comment(new["task"], now, f"at risk again: {reason}")
                await self.followups.announce("at_risk", new["task"])
            if self.followups.publish is not None:
                self.followups.publish({"type": "risk", "number": number, "level": now_level})
        return new

    async def sweep(self, now: float | None = None) -> int:
        """Recompute the numbers whose signals have aged out by now; how many. The list's order is checked
        too (one round trip; indexed afresh after an upgrade)."""
        now = self.clock() if now is None else now
        await self.store.reconcile_risk_rank()
        due = await self.store.risk_due(now)
        for number in due:
            await self.refresh(number, now)
        return len(due)

    async def page(self, day: str | None = None, after: Ranked | None = None, limit: int = 100,
                   now: float | None = None) -> tuple[list[dict], Ranked | None]:
        """One page of who is at risk, highest score first (those who entered the list on `day`, YYYY-MM-DD in
        company time, if given): the entries after the place `after`, and the place to go on from (None at the
        end). ValueError for a day that is not a date. Reads the page's numbers only, never the whole list."""
        now = self.clock() if now is None else now
        rules = self.rules()
        entered: list[Ranked] = []
        if day:
            start = datetime.combine(datetime.strptime(day, "%Y-%m-%d").date(), time(0), rules.company_zone)
            entered = await self.store.risk_entered(start.timestamp(),
                                                    (start + timedelta(days=1)).timestamp() - 0.001)

        async def of_the_day(place: Ranked | None, count: int) -> list[Ranked]:
            return [r for r in entered if place is None or r > place][:count]

        ranked: Callable[[Ranked | None, int], Awaitable[list[Ranked]]] = \
            of_the_day if day else self.store.risk_ranked
        out: list[dict] = []
        place = after
        while True:
            want = limit - len(out)
            batch = await ranked(place, want + 1)
            taken = batch[:want]
            for (_, number), details in zip(taken, await self.store.risk_details([n for _, n in taken]),
                                            strict=True):
                entry = self._entry(number, *details, rules, now)
                if entry is not None:
                    out.append(entry)
            if taken:
                place = taken[-1]
            if len(batch) <= want:
                return out, None
            if len(out) >= limit:
                return out, place

    def _entry(self, number: str, state: dict, customer: dict, task: dict, rules: CompiledRules,
               now: float) -> dict | None:
        """An at-risk customer as the list shows them; None when they are not at risk any more (their signals
        aged out a moment ago: the sweep takes them off the list)."""
        if "since" not in state:
            return None
        hits = live_hits(state.get("hits"), now)
        score = sum(h.weight for h in hits)
        if level_of(rules.rs.risk, score) != "at_risk":
            return None
        zone = rules.company_zone
        return {
            "number": number, "name": customer.get("name", ""), "manager": customer.get("manager", ""),
            "abc": customer.get("abc", ""), "since": float(state["since"]), "score": score,
            "signals": [{"name": h.name, "weight": h.weight, "text": h.text,
                         "dates": [_date(t, zone) for t in sorted(h.dates)]} for h in hits],
            "task": task | {"overdue": task.get("state") == "open" and float(task.get("deadline") or now) < now}
            if task else None,
        }

    async def listing(self, day: str | None = None, now: float | None = None) -> list[dict]:
        """Everyone at risk (who entered on `day`, if given), page after page: for `router risk list`."""
        out, place = await self.page(day, None, PAGE, now)
        while place is not None:
            more, place = await self.page(day, place, PAGE, now)
            out += more
        return out


def _date(t: float, zone) -> str:
    return datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d")
