"""`router customers import FILE`, `router customers show NUMBER` and `router customers forget NUMBER`: the
customer directory, and erasing one person's data everywhere (personal-data laws give them that right).

`forget` runs without a prompt but only with `--yes`: it is run from a ticket or a script as often
as by hand, and a command that waits for a keypress hangs in cron or over ssh without a terminal;
a flag that must be typed out is the same deliberate act as answering "y". Its one line of output
is the record to keep with the request: the number shown with all but its last four digits masked
(the line outlives the data it reports erased), and what was erased.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from router.cli import show
from router.cli.importing import run_import
from router.cli.options import add_import_options, add_store_options, store_url
from router.cli.store import on_store
from router.core.phones import normalise
from router.core.rulefile import RuleFileError, load_rules
from router.directory.csvfile import ImportReport
from router.directory.customers import import_csv
from router.state.erasure import Erased
from router.state.store import Store

SHOWN_DIGITS = 4
"""Digits of a forgotten number its record keeps (the last ones)."""


def _manager_ids(rules_path: str | None) -> frozenset[str] | None:
    """The manager ids the rules define, to check the directory against; None without rules."""
    path = rules_path or os.environ.get("ROUTER_RULES")
    return frozenset(load_rules(path).managers) if path else None


def run_import_command(args: argparse.Namespace) -> int:
    try:
        managers = _manager_ids(args.rules)
    except RuleFileError as e:
        print(f"router customers import: the rules do not load, nothing imported:\n{e}", file=sys.stderr)
        return 2
    if managers is None:
        print("router customers import: managers not checked (give --rules or set ROUTER_RULES)", file=sys.stderr)

    async def load(store: Store, encoding: str, report: ImportReport) -> None:
        await import_csv(store, args.file, args.region, encoding=encoding, managers=managers, report=report)

    return run_import(args, "customers", load)


def masked(number: str) -> str:
    """`+79161234567` as `+*******4567`: enough to match it to the request, not to call it."""
    digits = sum(ch.isdigit() for ch in number)
    out, seen = [], 0
    for ch in number:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - SHOWN_DIGITS else "*")
        else:
            out.append(ch)
    return "".join(out)


def raw_call_days(zone: ZoneInfo, keep_calls: int, now: float) -> list[str]:
    """The company days whose raw calls may still be kept: today and `keep_calls` back (one more for the day
    a call that began before midnight is filed under)."""
    today = datetime.fromtimestamp(now, zone).date()
    return [(today - timedelta(days=i)).isoformat() for i in range(keep_calls // 86400 + 2)]


def run_forget(args: argparse.Namespace) -> int:
    number = normalise(args.number, args.region).key
    if not number:
        print(f"router customers forget: {args.number!r} is not a phone number", file=sys.stderr)
        return 2
    path = args.rules or os.environ.get("ROUTER_RULES")
    if not path:
        print("router customers forget: no rules: pass --rules PATH or set ROUTER_RULES (their report.keep_calls "
              "says how many days of raw calls to look through)", file=sys.stderr)
        return 2
    try:
        rules = load_rules(path)
    except RuleFileError as e:
        print(f"router customers forget: the rules do not load, nothing erased:\n{e}", file=sys.stderr)
        return 2
    if not args.yes:
        print(f"router customers forget: this erases everything the router keeps about {masked(number)} (directory "
              f"record, history, risk, tasks, messages waiting to be sent, raw calls, log entries) and cannot be "
              f"undone; run again with --yes", file=sys.stderr)
        return 2
    days = raw_call_days(ZoneInfo(rules.company.timezone), rules.report.keep_calls, time.time())

    async def forget(store: Store) -> Erased:
        return await store.forget_number(number, days)

    erased = on_store("customers forget", store_url(args), args.prefix, forget, timeout=30)
    print(f"router customers forget: erased {masked(number)}: {erased.keys} keys, {erased.tasks} tasks, "
          f"{erased.messages} queued messages, {erased.calls} raw calls ({len(days)} days looked through), "
          f"{erased.log_entries} log entries")
    return 0


def add_parser(sub) -> None:
    cp = sub.add_parser("customers", help="the customer directory").add_subparsers(dest="action", required=True)
    sp = cp.add_parser("import", help="import number,name,abc,manager,timezone,tags from CSV")
    sp.add_argument("file")
    sp.add_argument("--region", default="RU", help="region for national numbers (default RU)")
    sp.add_argument("--rules", help="rule file or directory whose managers the file may name (default $ROUTER_RULES)")
    add_import_options(sp)
    sp.set_defaults(func=run_import_command)
    sp = cp.add_parser("show", help="the directory record and call history the router keeps for one number")
    sp.add_argument("number", help="in any usual format: +79031234567, 8 903 123-45-67")
    sp.add_argument("--region", default="RU", help="region for national numbers (default RU)")
    sp.add_argument("--rules", help="rules whose company zone the times are shown in (default $ROUTER_RULES; else UTC)")
    sp.add_argument("--calls", type=int, default=20, help="how many of the newest inbound calls to list (default 20)")
    sp.add_argument("--json", action="store_true")
    add_store_options(sp)
    sp.set_defaults(func=show.run)
    sp = cp.add_parser("forget", help="erase everything the router keeps about one number (a person's right)")
    sp.add_argument("number", help="in any usual format: +79031234567, 8 903 123-45-67")
    sp.add_argument("--yes", action="store_true", help="erase it: without --yes nothing is done")
    sp.add_argument("--region", default="RU", help="region for national numbers (default RU)")
    sp.add_argument("--rules", help="rules whose report.keep_calls and company zone say which days of raw calls "
                                    "to look through (default $ROUTER_RULES)")
    add_store_options(sp)
    sp.set_defaults(func=run_forget)
