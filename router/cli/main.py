"""The `router` command: the top parser and the dispatch to each command group's module.

Each module in router/cli registers its own sub-parser (`add_parser(sub)`) and the function
that runs it (`func`). Only the chosen command's module is imported: together they pull in
the whole router (aiohttp's server, the service, fakeredis for the demo), and importing them
all made `router check rules/` take 644 ms instead of 451 ms (medians on a 2-core machine).
`router --help` and a name that is no command import them all, to list them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from router.cli.storeerrors import StoreFailure

COMMAND_MODULES = {
    "serve": "router.cli.serve",
    "check": "router.cli.check",
    "call": "router.cli.call",
    "simulate": "router.cli.simulate",
    "replay": "router.cli.replay",
    "rules": "router.cli.rules",
    "ivr": "router.cli.ivr",
    "demo": "router.cli.demo",
    "report": "router.cli.report",
    "tail": "router.cli.tail",
    "customers": "router.cli.customers",
    "companies": "router.cli.companies",
    "events": "router.cli.events",
    "risk": "router.cli.risk",
    "followups": "router.cli.followups",
    "callback": "router.cli.callback",
    "numbering": "router.cli.numbering",
    "users": "router.cli.users",
    "wallboard": "router.cli.wallboard",
}
"""Command group → the module that adds its sub-parser; in the order `router --help` lists them."""


def parser(commands: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the sub-parsers of `commands` (default: all), importing their modules."""
    p = argparse.ArgumentParser(prog="router", description="Real-time call routing for Asterisk.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, module in COMMAND_MODULES.items():
        if commands is None or name in commands:
            importlib.import_module(module).add_parser(sub)
    return p


def chosen_command(argv: list[str]) -> str | None:
    """The command group named by the first word of `argv`, if it names one (no top option takes a value)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMAND_MODULES else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = chosen_command(argv)
    args = parser([command] if command else None).parse_args(argv)
    try:
        return args.func(args)
    except StoreFailure as e:
        print(e, file=sys.stderr)
        return 2
    except BrokenPipeError:
        # whoever read the output went away (`router report --csv | head`): stop quietly, as `cat` does,
        # and let nothing else write to the closed pipe at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
