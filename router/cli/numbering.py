"""`router numbering import FILE`: the regulator's range registry as the national numbering plan."""

from __future__ import annotations

import argparse

from router.cli.importing import run_import
from router.cli.options import add_import_options
from router.directory.csvfile import ImportReport
from router.directory.numbering import import_ranges
from router.state.store import Store


def run_import_command(args: argparse.Namespace) -> int:
    async def load(store: Store, encoding: str, report: ImportReport) -> None:
        await import_ranges(store, args.file, args.country, args.zones, encoding=encoding, report=report)

    return run_import(args, "numbering", load)


def add_parser(sub) -> None:
    np_ = sub.add_parser("numbering", help="the national numbering plan").add_subparsers(dest="action",
                                                                                        required=True)
    sp = np_.add_parser("import", help="load the regulator's range registry (DEF/ABC CSV)")
    sp.add_argument("file")
    sp.add_argument("--country", default="7", help="country code the ranges belong to (default 7)")
    sp.add_argument("--zones", help="CSV region_contains;timezone overriding the built-in Russian table")
    add_import_options(sp)
    sp.set_defaults(func=run_import_command)
