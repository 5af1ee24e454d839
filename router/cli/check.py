"""`router check PATH…`: validate rule files; each problem printed as `file:line: what`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from router.config import ConfigError, rule_limits
from router.core.rulefile import RuleFileError, load_rules
from router.ivr.sounds import missing_sounds
from router.outbox.templates import gateway_warnings


def run(args: argparse.Namespace) -> int:
    try:
        limits = rule_limits()
    except ConfigError as e:
        print(f"router check: {e}", file=sys.stderr)
        return 2
    if args.sounds and not Path(args.sounds).is_dir():
        print(f"router check: --sounds {args.sounds}: not a folder (give Asterisk's sounds folder, like "
              "/var/lib/asterisk/sounds)", file=sys.stderr)
        return 2
    more = missing_sounds(Path(args.sounds)) if args.sounds else None
    status = 0
    for path in args.paths:
        try:
            rs = load_rules(path, limits, more)
        except RuleFileError as e:
            for p in e.problems:
                print(p)
            status = 1
            continue
        menus = f", {len(rs.menus)} menus" if rs.menus else ""
        print(f"{path}: OK — {len(rs.rules)} rules, {len(rs.targets)} targets, {len(rs.managers)} managers{menus}")
        for w in gateway_warnings(rs.notify):
            print(f"{path}: warning: {w}")
    return status


def add_parser(sub) -> None:
    sp = sub.add_parser("check", help="validate rule files; print file:line for each problem")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--sounds", metavar="DIR", help="also report each menu prompt with no sound file under DIR "
                                                     "(Asterisk's sounds folder, like /var/lib/asterisk/sounds)")
    sp.set_defaults(func=run)
