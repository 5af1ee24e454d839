"""`router companies import FILE`: client companies and their branch numbers."""

from __future__ import annotations

import argparse

from router.cli.importing import run_import
from router.cli.options import add_import_options
from router.directory.companies import import_csv
from router.directory.csvfile import ImportReport
from router.state.store import Store


def run_import_command(args: argparse.Namespace) -> int:
    async def load(store: Store, encoding: str, report: ImportReport) -> None:
        await import_csv(store, args.file, args.region, encoding=encoding, report=report)

    return run_import(args, "companies", load)


def add_parser(sub) -> None:
    cp = sub.add_parser("companies", help="client companies and their branch numbers").add_subparsers(
        dest="action", required=True)
    sp = cp.add_parser("import", help="import company,name,abc,manager,tags,numbers from CSV")
    sp.add_argument("file")
    sp.add_argument("--region", default="RU", help="region for national numbers (default RU)")
    add_import_options(sp)
    sp.set_defaults(func=run_import_command)
