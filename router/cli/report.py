"""`router report`: what happened on a day or a range of days — as text, JSON or the raw calls' CSV."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from router.cli.options import add_store_options, store_url
from router.cli.store import on_store
from router.core.decide import CompiledRules
from router.core.rulefile import RuleFileError, load_rules
from router.reports.reader import agents_csv, calls_csv, parse_range, report
from router.reports.report import text
from router.state.store import Store


def run(args: argparse.Namespace) -> int:
    rules_path = args.rules or os.environ.get("ROUTER_RULES")
    if not rules_path:
        print("router report: no rules: pass --rules PATH or set ROUTER_RULES (labels and the company's day)",
              file=sys.stderr)
        return 2
    try:
        rules = CompiledRules(load_rules(rules_path), rules_path)
    except RuleFileError as e:
        print(e, file=sys.stderr)
        return 1
    now = time.time()
    try:
        days = parse_range(args.day, args.first, args.last, rules, now)
    except ValueError as e:
        print(f"router report: {e}", file=sys.stderr)
        return 2

    async def read(store: Store):
        if args.csv:
            return await calls_csv(store, days)
        if args.agents_csv:
            return await agents_csv(store, days)
        return await report(store, rules, days, now)

    found = on_store("report", store_url(args), args.prefix, read)
    if args.csv or args.agents_csv:
        sys.stdout.write(found)
    elif args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(text(found))
    return 0


def add_parser(sub) -> None:
    sp = sub.add_parser("report", help="what happened: calls per type, missed share, ring times, staff load")
    sp.add_argument("--rules", help="rule file or directory, for the type labels and the company's day "
                                    "(default $ROUTER_RULES)")
    sp.add_argument("--day", help="YYYY-MM-DD in the company's zone (default today)")
    sp.add_argument("--from", dest="first", metavar="DAY", help="first day of a range")
    sp.add_argument("--to", dest="last", metavar="DAY", help="last day of a range")
    out = sp.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the report as JSON (what GET /api/report gives)")
    out.add_argument("--csv", action="store_true", help="the raw calls of the day(s), one CSV row each")
    out.add_argument("--agents-csv", action="store_true",
                     help="the queue members' states of the day(s): one CSV row per state an hour, pause, ring "
                          "not answered, login, logout")
    add_store_options(sp)
    sp.set_defaults(func=run)
