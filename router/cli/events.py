"""`router events import FILE`: customer events (visits, ratings, tickets, …) that feed the risk score."""

from __future__ import annotations

import argparse
import sys
import time

from router.cli.options import add_store_options
from router.cli.with_router import rules_for, with_router
from router.risk.events import read_csv


def run_import(args: argparse.Namespace) -> int:
    rules = rules_for(args, "events import")
    if rules is None:
        return 2
    try:
        batch = read_csv(args.file, rules.rs.risk, rules.company_zone, rules.region, time.time())
    except OSError as e:
        print(f"router events import: {e}", file=sys.stderr)
        return 2

    async def work(router):
        return await router.risk.add(batch.events)

    added = with_router(args, "events import", rules, work)
    for p in batch.problems:
        print(p, file=sys.stderr)
    print(f"{args.file}: {len(batch.events)} events read, {added} new, {len(batch.events) - added} already known, "
          f"{len(batch.problems)} problems")
    return 1 if batch.problems else 0


def add_parser(sub) -> None:
    ep = sub.add_parser("events", help="customer events (visits, ratings, tickets, …)").add_subparsers(
        dest="action", required=True)
    sp = ep.add_parser("import", help="import id,number,kind,at,value,note rows from CSV")
    sp.add_argument("file")
    sp.add_argument("--rules", help="rule file or directory (default $ROUTER_RULES): event kinds, retention")
    add_store_options(sp)
    sp.set_defaults(func=run_import)
