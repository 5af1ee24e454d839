"""`router followups list`: the open (or overdue, or closed) follow-ups in the worklist's order."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from router.cli.options import add_store_options
from router.cli.with_router import rules_for, with_router
from router.core.tasks import Task
from router.service import Router


def when(at: float, now: float, zone: ZoneInfo) -> str:
    """`14:30` today, `Mon 24 Nov 14:30` on another day: a deadline is never read as today's by mistake."""
    moment = datetime.fromtimestamp(at, zone)
    today = datetime.fromtimestamp(now, zone).date()
    return moment.strftime("%H:%M") if moment.date() == today else moment.strftime("%a %d %b %H:%M")


def format_tasks(tasks: list[Task], now: float, zone: ZoneInfo) -> str:
    if not tasks:
        return "no follow-ups"
    lines = []
    for t in tasks:
        due = when(float(t.get("deadline") or 0), now, zone)
        flags = "".join(f" [{f}]" for f in (("OVERDUE" if t.get("overdue") else ""),
                                               (f"level {t['level']}" if int(t.get("level") or 0) else ""),
                                               t.get("kind", "")) if f)
        name = f" ({t['name']})" if t.get("name") else ""
        lines.append(f"{t.get('id')}  {t.get('number')}{name} — {t.get('owner')}, due {due}, "
                     f"{t.get('count', '1')} call(s){flags}")
    return "\n".join(lines)


def run_list(args: argparse.Namespace) -> int:
    rules = rules_for(args, "followups list")
    if rules is None:
        return 2

    async def work(router: Router) -> list[Task]:
        return await router.followups.worklist(args.state, args.owner)

    tasks = with_router(args, "followups list", rules, work)
    if args.json:
        print(json.dumps(tasks, ensure_ascii=False, indent=2))
    else:
        print(format_tasks(tasks, time.time(), rules.company_zone))
    return 0


def add_parser(sub) -> None:
    fp = sub.add_parser("followups", help="missed calls' follow-ups and retention tasks").add_subparsers(
        dest="action", required=True)
    sp = fp.add_parser("list", help="the worklist: open follow-ups in the order they are worked, overdue marked")
    sp.add_argument("--state", choices=("open", "overdue", "closed"), default="open")
    sp.add_argument("--owner", help="only this owner's tasks")
    sp.add_argument("--rules", help="rule file or directory (default $ROUTER_RULES): the worklist order, the zone")
    sp.add_argument("--json", action="store_true")
    add_store_options(sp)
    sp.set_defaults(func=run_list)
