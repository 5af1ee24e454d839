"""`router check PATH…`: validate rule files; each problem printed as `file:line: what`.

With `--ami URL` the rules are also held against a running Asterisk: every queue and PJSIP
endpoint they name must exist there (router/asterisk/inventory.py); exit status 1 if one does not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from router.asterisk.amiconnection import AMITarget, LoginRefused, login_once
from router.asterisk.inventory import Inventory, read_inventory, unknown
from router.config import ConfigError, rule_limits
from router.core.rulefile import RuleFileError, load_rules
from router.core.rules import RuleSet
from router.outbox.templates import gateway_warnings

LOGIN_SECONDS = 10.0


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
        if args.ami:
            status = max(status, against_asterisk(path, rs, args.ami))
    return status


def against_asterisk(path: str, rs: RuleSet, url: str) -> int:
    """1 when the rules name a queue or endpoint the Asterisk at `url` lacks; 2 when it cannot be asked."""
    try:
        target = AMITarget.parse(url, os.environ.get("ROUTER_AMI_SECRET"))
        have = asyncio.run(ask(target))
    except ValueError as e:
        print(f"router check: --ami: {e}", file=sys.stderr)
        return 2
    except LoginRefused as e:
        print(f"router check: --ami: {e}", file=sys.stderr)
        return 2
    except (OSError, TimeoutError) as e:
        why = os.strerror(e.errno) if e.errno else str(e) or "no answer in time"
        print(f"router check: --ami: cannot reach Asterisk's AMI at {target.host}:{target.port} ({why})",
              file=sys.stderr)
        return 2
    lines = unknown(rs, have)
    for line in lines:
        print(f"{path}: {'note' if line in have.why_not else 'error'}: {line}")
    if not lines:
        print(f"{path}: every queue and PJSIP endpoint it names exists on {target.host}:{target.port}")
    return 1 if len(lines) > len(have.why_not) else 0


async def ask(target: AMITarget) -> Inventory:
    manager = await login_once(target, LOGIN_SECONDS)
    try:
        async with asyncio.timeout(LOGIN_SECONDS):
            return await read_inventory(manager)
    finally:
        manager.close()


def add_parser(sub) -> None:
    sp = sub.add_parser("check", help="validate rule files; print file:line for each problem")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--ami", metavar="URL", help="also check every queue and PJSIP endpoint the rules name exists on "
                                                "this Asterisk: ami://USER[:SECRET]@HOST:PORT (secret also from "
                                                "$ROUTER_AMI_SECRET; endpoints need a user with `system` write)")
    sp.set_defaults(func=run)
