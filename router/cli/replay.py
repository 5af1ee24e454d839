"""`router replay --rules NEW --day DAY`: the logged calls of a day (or `--from/--to`) decided again by NEW.

Prints what would change — by rule, by first step, the missed calls NEW sends to someone free —
and exits 0 when nothing would, 1 when something would (a CI check for a rule repository), 2
on an error (rules that do not load, a day that cannot be read, the store away). Reads the
day logs from the store (--store or $ROUTER_STORE); writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from router.cli.options import add_store_options, store_url
from router.cli.store import on_store
from router.cli.tail import clean
from router.config import ConfigError, rule_limits
from router.core.decide import CompiledRules
from router.core.rulefile import RuleFileError
from router.replaying import period, replay_days
from router.rulesource import compile_rules
from router.state.store import Store


def _when(at: float, zone: ZoneInfo, days: int) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%m-%d %H:%M" if days > 1 else "%H:%M")


def text(found: dict, rules: CompiledRules, days: list[str], path: str) -> str:
    """The report of a replay, for a terminal (every name and number cleaned of control characters)."""
    zone = rules.company_zone
    span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
    lines = [f"Replay of {span} on {path}" + (f" (version {rules.version})" if rules.version else "")
             + f": {found['calls']} calls logged"]

    def example(x: dict, indent: str = "      ") -> str:
        old, new = x["old"], x["new"]
        what = old["chain"] + " → " + new["chain"] if "chain" in x["what"] else \
            ", ".join(f"{k} {old[k]} → {new[k]}" for k in x["what"] if k != "rule") or "same chain"
        return f"{indent}{_when(x['at'], zone, len(days))}  {x['number'] or 'anonymous':<14} {what}  [{x['id']}]"

    if not found["calls"]:
        lines.append("  no call was logged on these days (a day's log is kept report.keep_calls after it)")
    elif not found["changed"]:
        lines.append(f"  nothing would change ({found['unchanged']} calls decided the same way)")
    else:
        lines.append(f"  {found['unchanged']} unchanged, {found['changed']} would change, "
                     f"{found['elsewhere']} of them going elsewhere")
        lines.append("By rule (old → new):")
        for g in found["by_rule"]:
            lines.append(f"  {g['count']:>6}  {g['from']} → {g['to']}")
            lines += [example(x) for x in g["examples"]]
        if found["by_first_step"]:
            lines.append("By first step (old → new):")
            for g in found["by_first_step"]:
                lines.append(f"  {g['count']:>6}  {g['from']} → {g['to']}")
                lines += [example(x) for x in g["examples"]]
    missed = found["missed_to_free"]
    lines.append(f"Missed calls the new rules send to someone free when they rang: {missed['count']}")
    lines += [example(x) + f"  (new rule: {x['new']['rule']})" for x in missed["examples"]]
    if found["missed_to_unknown"]["count"]:
        lines.append(f"  and {found['missed_to_unknown']['count']} missed calls sent elsewhere to a queue or IVR "
                     "(whether someone was free there is not known)")
    if found["missed_to_busy"]["count"]:
        lines.append(f"  and {found['missed_to_busy']['count']} missed calls sent elsewhere to someone busy")
    inexact = found["inexact"]
    if inexact.get("calls_within"):
        lines.append(f"Not exact: {inexact['calls_within']} calls read a shorter history than the new rules' "
                     f"calls_within ({rules.calls_window // 86400} days) counts: their counts may be low")
    if inexact.get("crm"):
        lines.append(f"Not exact: {inexact['crm']} calls were not looked up in a CRM (the old rules had no "
                     "directory.crm): replayed without CRM fields")
    if found["no_record"]:
        lines.append(f"Not replayed: {found['no_record']} calls logged without what they were decided from "
                     "(logged by an older release)")
    return "\n".join(clean(line) for line in lines) + "\n"


def run(args: argparse.Namespace) -> int:
    try:
        rules = compile_rules(Path(args.rules), rule_limits())
    except (RuleFileError, ConfigError) as e:
        print(e, file=sys.stderr)
        return 2
    try:
        days = period(args.day, args.first, args.last, rules, time.time())
    except ValueError as e:
        print(f"router replay: {e}", file=sys.stderr)
        return 2

    async def work(store: Store) -> dict:
        return (await replay_days(store, rules, days, in_thread=False)).as_dict()

    found = on_store("replay", store_url(args), args.prefix, work)
    if args.json:
        print(json.dumps({"days": days, "rules": args.rules, "version": rules.version, **found},
                         ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(text(found, rules, days, args.rules))
    return 1 if found["changed"] else 0


def add_parser(sub) -> None:
    sp = sub.add_parser("replay", help="decide a logged day's calls again by other rules; show what would change")
    sp.add_argument("--rules", required=True, help="the rule file or directory to try")
    sp.add_argument("--day", help="YYYY-MM-DD in the company's zone (default yesterday)")
    sp.add_argument("--from", dest="first", metavar="DAY", help="first day of a range")
    sp.add_argument("--to", dest="last", metavar="DAY", help="last day of a range")
    sp.add_argument("--json", action="store_true", help="the difference as JSON (what GET /api/replay gives)")
    add_store_options(sp)
    sp.set_defaults(func=run)
