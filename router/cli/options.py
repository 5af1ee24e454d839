"""Options several commands share: where the store is, and how a CSV file is read."""

from __future__ import annotations

import argparse
import os

from router.config import DEFAULT_STORE
from router.directory.csvfile import AUTO


def add_store_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--store", help="Redis URL (default $ROUTER_STORE or redis://127.0.0.1:6379/0)")
    sp.add_argument("--prefix", default=os.environ.get("ROUTER_PREFIX") or "cr",
                    help="key prefix in Redis (default $ROUTER_PREFIX or cr)")


def add_import_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--encoding", default=AUTO,
                    help="the file's encoding, e.g. utf-8 or windows-1251 (default: detected)")
    sp.add_argument("--show", type=int, default=20, metavar="N",
                    help="print the first N problems (default 20); all are counted")
    add_store_options(sp)


def store_url(args: argparse.Namespace) -> str:
    """--store, else $ROUTER_STORE, else the local Redis."""
    return args.store or os.environ.get("ROUTER_STORE") or DEFAULT_STORE
