"""My work: what an agent's own page shows — his open tasks in the worklist's order, overdue ones first,
deadlines in his zone; the callbacks due within the hour; his calls today; his line of today's report
(calls answered and made, missed calls of his customers, time on the phone). Read when the page asks,
never on the call's path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from router.followups.followup import Followups
from router.people.accounts import User
from router.reports.tally import day_of
from router.state.store import Store

CALLBACK_WITHIN = 3600
"""A follow-up due within this long is listed under the callbacks due."""


def _mine(device: str, devices: frozenset[str]) -> bool:
    return bool(device) and (device in devices or device.removesuffix("/n") in devices)


async def my_work(store: Store, followups: Followups, user: User, devices: frozenset[str], zone: ZoneInfo,
                  now: float) -> dict[str, Any]:
    rules = followups.rules()
    names = user.owner_names
    tasks = [t for t in await followups.worklist("open") if t.get("owner") in names]
    tasks.sort(key=lambda t: not t.get("overdue"))  # stable: the worklist's order within each part
    shown = []
    for t in tasks:
        t.pop("log", None)
        deadline = float(t.get("deadline") or now)
        shown.append({**t, "due": datetime.fromtimestamp(deadline, zone).strftime("%Y-%m-%d %H:%M")})
    soon = now + CALLBACK_WITHIN
    callbacks = [t for t in shown if t.get("kind") != "retention" and float(str(t["deadline"])) <= soon]
    today = day_of(now, rules.company_zone)
    calls = []
    missed = 0
    for c in await store.calls_of(today):
        his_customer = c.get("manager") in names
        if not (_mine(c.get("by", ""), devices) or his_customer):
            continue
        if c.get("direction") == "inbound" and c.get("result") != "answered" and his_customer:
            missed += 1
        calls.append({"time": datetime.fromtimestamp(c["at"], zone).strftime("%H:%M"), "number": c["number"],
                      "direction": c["direction"], "result": c["result"], "by": c.get("by", ""),
                      "type": rules.rs.type_label(c["type"]) if c.get("type") else "",
                      "talk_seconds": c.get("talk_seconds", 0)})
    counters = (await store.report_counters([today]))[0]
    answered = outbound = tenths = 0
    for field, value in counters.items():
        parts = field.split("|")
        if len(parts) == 3 and parts[0] == "a" and _mine(parts[1], devices):
            n = int(value)
            answered += n if parts[2] == "n" else 0
            outbound += n if parts[2] == "out" else 0
            tenths += n if parts[2] == "ds" else 0
    return {"name": user.name, "zone": zone.key, "day": today, "tasks": shown, "callbacks": callbacks,
            "calls": calls[::-1],
            "report": {"answered": answered, "outbound": outbound, "missed": missed,
                       "talk_seconds": round(tenths / 10)}}
