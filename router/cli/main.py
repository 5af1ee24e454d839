"""The `router` command: the top parser and the dispatch to each command group's module.

Each module in router/cli registers its own sub-parser (`add_parser(sub)`) and the function
that runs it (`func`).
"""

from __future__ import annotations

import argparse
import sys

from router.cli import (
    call,
    check,
    companies,
    customers,
    demo,
    events,
    numbering,
    report,
    risk,
    serve,
    simulate,
    tail,
)

COMMAND_GROUPS = (serve, check, call, simulate, demo, report, tail, customers, companies, events, risk, numbering)
"""In the order `router --help` lists them."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="router", description="Real-time call routing for Asterisk.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
