"""`router check PATH…`: validate rule files; each problem printed as `file:line: what`."""

from __future__ import annotations

import argparse
import sys

from router.config import ConfigError, rule_limits
from router.core.rulefile import RuleFileError, load_rules
from router.outbox.templates import gateway_warnings


def run(args: argparse.Namespace) -> int:
    try:
        limits = rule_limits()
    except ConfigError as e:
        print(f"router check: {e}", file=sys.stderr)
        return 2
    status = 0
    for path in args.paths:
        try:
            rs = load_rules(path, limits)
        except RuleFileError as e:
            for p in e.problems:
                print(p)
            status = 1
            continue
        print(f"{path}: OK — {len(rs.rules)} rules, {len(rs.targets)} targets, {len(rs.managers)} managers")
        for w in gateway_warnings(rs.notify):
            print(f"{path}: warning: {w}")
    return status


def add_parser(sub) -> None:
    sp = sub.add_parser("check", help="validate rule files; print file:line for each problem")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.set_defaults(func=run)
