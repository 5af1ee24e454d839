"""Running one CSV importer against the store, the same way for customers, companies and numbering.

Problems are streamed by line to stderr (the first --show of them), then one summary line on
stdout. Exit status 0 when every row was read, 1 when rows were skipped, 2 when the import could
not run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Literal

from router.cli.options import store_url
from router.cli.store import on_store
from router.cli.storeerrors import StoreFailure
from router.directory.csvfile import ImportReport, encoding_name
from router.state.store import Store

ImportKind = Literal["customers", "companies", "numbering"]
Loader = Callable[[Store, str, ImportReport], Awaitable[None]]
"""Reads the file into the store: (store, encoding, report)."""


class UnreadableFile(Exception):
    """The file (or --zones) could not be read: the admin's message, exit status 2."""


def run_import(args: argparse.Namespace, what: ImportKind, load: Loader) -> int:
    try:
        encoding = encoding_name(args.encoding)
    except ValueError as e:
        print(f"router {what} import: --encoding: {e}", file=sys.stderr)
        return 2
    report = ImportReport(args.file, keep=max(args.show, 0), echo=lambda text: print(text, file=sys.stderr))

    async def work(store: Store) -> None:
        await store.ping()
        try:
            await load(store, encoding, report)
        except OSError as e:
            if e.filename is None:  # the store's socket, not a file
                raise
            raise UnreadableFile(f"router {what} import: {e}") from None

    status = 0
    try:
        on_store(f"{what} import", store_url(args), args.prefix, work)
    except UnreadableFile as e:
        print(e, file=sys.stderr)
        return 2
    except StoreFailure as e:
        print(e, file=sys.stderr)
        status = 2
    if report.problems > len(report.errors):
        print(f"… {report.problems - len(report.errors):,} more problems not shown (--show N prints more)",
              file=sys.stderr)
    written = {"customers": f"{report.imported:,} customer records written",
               "companies": f"{report.imported:,} companies written",
               "numbering": f"{report.imported:,} ranges in force" if status == 0 else
               "nothing written: the numbering plan in force is unchanged"}[what]
    print(f"{args.file} ({report.encoding or 'unread'}): {written}, {report.skipped:,} rows skipped, "
          f"{report.warned:,} warnings" + ("; the import stopped there" if status else ""))
    return status or (1 if report.skipped else 0)
