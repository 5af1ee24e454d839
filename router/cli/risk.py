"""`router risk list`: customers at risk of leaving — who, since when, why."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from router.cli.options import add_store_options
from router.cli.with_router import rules_for, with_router


def format_risk(entries: list[dict], zone) -> str:
    """The at-risk list as a person reads it in the morning."""
    if not entries:
        return "nobody is at risk"
    lines = []
    for e in entries:
        since = datetime.fromtimestamp(e["since"], zone).strftime("%Y-%m-%d %H:%M")
        who = " ".join(x for x in (e["number"], e["name"] and f"({e['name']})") if x)
        task = e.get("task") or {}
        lines.append(f"{who} — score {e['score']}, at risk since {since}, manager {e['manager'] or '—'}"
                     + (f", task {task['id']} ({task['owner']}, {task['state']})" if task else ""))
        for s in e["signals"]:
            lines.append(f"    {s['name']} +{s['weight']}: {s['text']} [{', '.join(s['dates'])}]")
    return "\n".join(lines)


def run_list(args: argparse.Namespace) -> int:
    rules = rules_for(args, "risk list")
    if rules is None:
        return 2

    async def work(router):
        return await router.risk.listing(args.day)

    try:
        entries = with_router(args, "risk list", rules, work)
    except ValueError:
        print(f"router risk list: --day {args.day!r}: write YYYY-MM-DD", file=sys.stderr)
        return 2
    print(json.dumps(entries, ensure_ascii=False, indent=2) if args.json else format_risk(entries, rules.company_zone))
    return 0


def add_parser(sub) -> None:
    rp = sub.add_parser("risk", help="customers at risk of leaving").add_subparsers(dest="action", required=True)
    sp = rp.add_parser("list", help="who is at risk, since when, why")
    sp.add_argument("--day", help="only those who entered the list on this day (YYYY-MM-DD, company time)")
    sp.add_argument("--rules", help="rule file or directory (default $ROUTER_RULES)")
    sp.add_argument("--json", action="store_true")
    add_store_options(sp)
    sp.set_defaults(func=run_list)
