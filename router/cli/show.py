"""`router customers show NUMBER`: the directory record and the history the router keeps for one number.

What an admin checks when a caller says "it sent me to the wrong place": what the router knew.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from router.cli.options import store_url
from router.cli.store import on_store
from router.core.phones import normalise
from router.core.rulefile import RuleFileError, load_rules
from router.state.store import Store

FIELDS = ("name", "abc", "manager", "timezone", "tags")


def _company_zone(rules_path: str | None) -> ZoneInfo:
    path = rules_path or os.environ.get("ROUTER_RULES")
    if path:
        try:
            return ZoneInfo(load_rules(path).company.timezone)
        except RuleFileError:
            pass
    return ZoneInfo("UTC")


def describe(number: str, rec: dict, zone: ZoneInfo) -> str:
    def at(value: str | float) -> str:
        return datetime.fromtimestamp(float(value), zone).strftime("%Y-%m-%d %H:%M:%S")

    customer, state = rec["customer"], rec["state"]
    lines = [number + (f"  {customer['name']}" if customer.get("name") else "")]
    if customer:
        lines.append("  directory: " + " · ".join(f"{k} {customer[k]}" for k in FIELDS[1:] if customer.get(k)))
    else:
        lines.append("  directory: not in the customer directory")
    lines.append(f"history (times in {zone.key}):")
    if "in" in state:
        answered = {"1": " (answered)", "0": " (missed)"}.get(state.get("in_ok", ""), "")
        lines.append(f"  last inbound call   {at(state['in'])}{answered}")
    if "out" in state:
        answered = " (answered)" if state.get("out_ok") == "1" else " (not answered)"
        lines.append(f"  last outbound call  {at(state['out'])}{answered}")
    if state.get("followup"):
        lines.append(f"  open follow-up      {state['followup']}")
    total = rec["inbound_total"]
    if total:
        shown = rec["inbound"]
        lines.append(f"  inbound calls kept: {total}" + (f", newest {len(shown)}:" if total > len(shown) else ":"))
        lines += [f"    {at(t)}  {call_id}" for call_id, t in shown]
    if not state and not total:
        lines.append("  no calls recorded")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    number = normalise(args.number, args.region)
    if not number.key:
        print(f"router customers show: {args.number!r} is not a phone number", file=sys.stderr)
        return 2

    async def read(store: Store) -> dict:
        return await store.number_record(number.key, args.calls)

    rec = on_store("customers show", store_url(args), args.prefix, read, timeout=5)
    if args.json:
        print(json.dumps({"number": number.key, **rec}, ensure_ascii=False, indent=2))
    else:
        print(describe(number.key, rec, _company_zone(args.rules)))
    return 0 if rec["customer"] or rec["state"] or rec["inbound_total"] else 1
