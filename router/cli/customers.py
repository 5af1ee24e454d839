"""`router customers import FILE` and `router customers show NUMBER`: the customer directory."""

from __future__ import annotations

import argparse
import os
import sys

from router.cli import show
from router.cli.importing import run_import
from router.cli.options import add_import_options, add_store_options
from router.core.rulefile import RuleFileError, load_rules
from router.directory.csvfile import ImportReport
from router.directory.customers import import_csv
from router.state.store import Store


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
