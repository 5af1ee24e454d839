"""`router check PATH…`: validate rule files; each problem printed as `file:line: what`.

With `--ami URL` the rules are also held against a running Asterisk: every queue and PJSIP
endpoint they name must exist there (router/asterisk/inventory.py); exit status 1 if one does not.
With `--coverage`, also which rules decide calls and which cannot: static shadowing from the
file alone, then, from the store (--store or $ROUTER_STORE), the calls each rule decided over
the last `--days` days and the logged calls of those days decided again by the file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from router.asterisk.amiconnection import AMITarget, LoginRefused, login_once
from router.asterisk.inventory import Inventory, read_inventory, unknown
from router.cli.options import add_store_options, store_url
from router.cli.store import on_store
from router.cli.tail import clean
from router.config import ConfigError, rule_limits
from router.core.coverage import shadowed
from router.core.decide import CompiledRules
from router.core.rulefile import RuleFileError, load_rules
from router.core.rules import RuleSet
from router.ivr.sounds import missing_sounds
from router.outbox.templates import gateway_warnings
from router.replaying import MAX_DAYS, coverage_of, last_days
from router.state.store import Store


def coverage_text(found: dict) -> str:
    days = found["days"]
    lines = [f"coverage over {days[0]} to {days[-1]}: {found['calls']} calls counted, "
             f"{found['logged_calls']} logged calls decided again by this file",
             f"  {'counted':>8} {'replayed':>8}  rule"]
    for r in found["rules"]:
        notes = []
        if not r["counted"]:
            notes.append("never matched")
        if r["shadowed_by"]:
            notes.append(f"shadowed by {r['shadowed_by']!r}: it takes every call this rule asks for")
        elif r["held"] and not r["replayed"]:
            notes.append(f"held for {r['held']} logged calls, all taken by " +
                         ", ".join(f"{k!r} ({v})" for k, v in sorted(r["taken_by"].items(), key=lambda kv: -kv[1])))
        lines.append(f"  {r['counted']:>8} {r['replayed']:>8}  {r['name']}" + (f"  — {'; '.join(notes)}" if notes
                                                                                 else ""))
    lines.append(f"  {found['fallback']:>8} {'':>8}  (fallback)")
    for name, n in sorted(found["other_names"].items()):
        lines.append(f"  {n:>8} {'':>8}  {name}  (a rule this file does not have)")
    return "\n".join(clean(line) for line in lines) + "\n"


LOGIN_SECONDS = 10.0


def run(args: argparse.Namespace) -> int:
    try:
        limits = rule_limits()
    except ConfigError as e:
        print(f"router check: {e}", file=sys.stderr)
        return 2
    if args.coverage and not 1 <= args.days <= MAX_DAYS:
        print(f"router check: --days is 1 to {MAX_DAYS}", file=sys.stderr)
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
        if args.ami:
            status = max(status, against_asterisk(path, rs, args.ami))
        if not args.coverage:
            continue
        for rule, by in shadowed(rs).items():
            print(clean(f"{path}: rule {rule!r} can never match: {by!r} comes first and takes every call it "
                        "asks for"))
        rules = CompiledRules(rs, path)
        days = last_days(rules, args.days, time.time())

        async def work(store: Store, rules: CompiledRules = rules, days: list[str] = days) -> dict:
            return await coverage_of(store, rules, days, in_thread=False)

        sys.stdout.write(coverage_text(on_store("check --coverage", store_url(args), args.prefix, work)))
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
    sp.add_argument("--coverage", action="store_true",
                    help="also: rules that can never match, and (from the store) the calls each rule decided")
    sp.add_argument("--days", type=int, default=7, metavar="N",
                    help=f"with --coverage: the last N days, today included (default 7, at most {MAX_DAYS})")
    add_store_options(sp)
    sp.add_argument("--sounds", metavar="DIR", help="also report each menu prompt with no sound file under DIR "
                                                     "(Asterisk's sounds folder, like /var/lib/asterisk/sounds)")
    sp.set_defaults(func=run)
