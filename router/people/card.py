"""The caller's card: who is calling and why the call came to you, put together when a phone starts ringing.

Read off the call's path, after the ring, in two or three round trips: the number's keys
(router/state/cards.py), its open task with its comments, and the decision — from this router's
memory when it made it, else from the decision log. Everything on it is data for the page, which
shows it as text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.core.decide import CompiledRules
from router.core.ring import Ring
from router.core.risk import level_of, live_hits
from router.core.tasks import Task
from router.state.decisionlog import DecisionLog
from router.state.store import Store

COMMENTS_SHOWN = 10


def _zone(*names: str | None) -> ZoneInfo:
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


async def find_decision(store: Store, log: DecisionLog, decision_id: str) -> dict | None:
    """The decision's log entry: from this router's memory when it made it, else from the store."""
    if not decision_id:
        return None
    for e in reversed(log.recent):
        if e.get("id") == decision_id:
            return e
    return await store.decision_entry(decision_id)


def _task(task: Task, zone: ZoneInfo) -> dict[str, Any]:
    deadline = float(task.get("deadline") or 0)
    return {"id": task.get("id", ""), "kind": task.get("kind", "") or "followup", "owner": task.get("owner", ""),
            "state": task.get("state", ""), "count": int(task.get("count") or 1),
            "due": datetime.fromtimestamp(deadline, zone).strftime("%Y-%m-%d %H:%M") if deadline else "",
            "comments": [{"at": c["at"], "text": c["text"]}
                         for c in (task.get("log") or [])[-COMMENTS_SHOWN:]]}


async def build_card(store: Store, log: DecisionLog, rules: CompiledRules, ring: Ring, now: float) -> dict[str, Any]:
    number = ring.number
    reads = await store.card_reads(number) if number.startswith("+") else \
        {"customer": {}, "state": {}, "risk": {}, "calls": []}
    customer, state, risk = reads["customer"], reads["state"], reads["risk"]
    decision = await find_decision(store, log, ring.decision) or {}
    caller = decision.get("caller") or {}
    company_zone = rules.rs.company.timezone
    zone = _zone(customer.get("timezone"), caller.get("tz"), company_zone)
    hits = live_hits(risk.get("hits"), now) if risk else ()
    task_id = state.get("followup") or risk.get("task")
    task = await store.task(task_id) if task_id else {}
    staff_zone = ZoneInfo(company_zone)
    return {
        "linkedid": ring.linkedid, "decision": ring.decision, "number": number, "device": ring.device,
        "queue": ring.queue,
        "name": customer.get("name") or caller.get("name", ""),
        "company": caller.get("company_name") or caller.get("company") or customer.get("company", ""),
        "abc": customer.get("abc") or caller.get("abc", ""),
        "manager": customer.get("manager") or caller.get("manager", ""),
        "local_time": datetime.fromtimestamp(now, zone).strftime("%H:%M"), "zone": zone.key,
        "kind": caller.get("kind") or ("known" if customer or state else "new"),
        "risk": {"level": level_of(rules.rs.risk, sum(h.weight for h in hits)) if hits else "none",
                 "signals": [{"name": h.name, "weight": h.weight, "text": h.text} for h in hits]},
        "task": _task(task, staff_zone) if task and task.get("state") == "open" else None,
        "calls": [{**c, "label": rules.rs.type_label(c["type"]) if c["type"] else "",
                   "when": datetime.fromtimestamp(c["at"], staff_zone).strftime("%Y-%m-%d %H:%M")}
                  for c in reads["calls"]],
        "rule": decision.get("rule", ""), "reasons": decision.get("reasons", []),
        "steps": [f"{s['type']} {s['dest']}" for s in decision.get("steps", [])],
    }
