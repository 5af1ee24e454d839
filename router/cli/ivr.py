"""`router ivr dialplan RULES`: the rule file's menus as Asterisk dialplan (router/ivr/dialplan.py)."""

from __future__ import annotations

import argparse
import sys

from router.config import ConfigError, rule_limits
from router.core.rulefile import RuleFileError, load_rules
from router.ivr.dialplan import dialplan, write


def run_dialplan(args: argparse.Namespace) -> int:
    try:
        rs = load_rules(args.rules, rule_limits())
    except ConfigError as e:
        print(f"router ivr dialplan: {e}", file=sys.stderr)
        return 2
    except RuleFileError as e:
        print(f"router ivr dialplan: the rules do not load, nothing written:\n{e}", file=sys.stderr)
        return 1
    text = dialplan(rs)
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        changed = write(args.output, text)
    except OSError as e:
        print(f"router ivr dialplan: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"{args.output}: {len(rs.menus)} menus" + ("" if changed else " (unchanged)")
          + ("; now: asterisk -rx \"dialplan reload\"" if changed else ""), file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    sp = sub.add_parser("ivr", help="IVR menus of the rule file: the dialplan Asterisk runs")
    ivr = sp.add_subparsers(dest="ivr_command", required=True)
    dp = ivr.add_parser("dialplan", help="print the menus as dialplan (include it beside callrouter.conf)")
    dp.add_argument("rules", metavar="RULES", help="rule file or directory")
    dp.add_argument("-o", "--output", metavar="FILE", help="write the file (replaced at once) instead of printing")
    dp.set_defaults(func=run_dialplan)
