"""`router call`: one test call against a running router over real FastAGI, as Asterisk would place it.

Prints the variables the dialplan would receive, whether the router set them with SET VARIABLE
or with one EXEC MSet: the channel side is callsim's, which reads both as Asterisk does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys

from router.asterisk import variables as var
from router.asterisk.callsim import CallResult, call
from router.config import DEFAULT_AGI, ConfigError, host_port
from router.core.phones import why_invalid

HEAD = (var.DECISION, var.RULE, var.CALLER_KIND, var.ABC, var.MANAGER, var.TZ, var.PRIORITY, var.COUNT)


def describe(r: CallResult) -> str:
    v = r.variables
    shown = [k for k in HEAD if k in v]
    shown += [k for k in v if k not in shown]
    width = max((len(k) for k in shown), default=0)
    lines = [f"{k:<{width}}  {v[k]}" for k in shown]
    chain = " → ".join(f"{t} {d} ({s} s)" for t, d, s in r.chain())
    if chain:
        lines.append(f"chain: {chain}")
    lines.append(f"{len(r.commands)} AGI commands, {r.seconds * 1000:.1f} ms")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        host, port = host_port(args.agi or os.environ.get("ROUTER_AGI") or DEFAULT_AGI, "--agi")
    except ConfigError as e:
        print(f"router call: {e}", file=sys.stderr)
        return 2
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if not args.any_caller_id and (why := why_invalid(args.number, args.region)):
        print(f"router call: {why} (--any-caller-id sends it as it is, as a trunk could)", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(call(port, args.number, args.name or "", uid=random.randrange(1, 1 << 20),
                                  script=args.script, dnid=args.dnid or "unknown", extension=args.extension,
                                  host=host, timeout=args.timeout))
    except TimeoutError:
        print(f"router call: agi://{host}:{port}/{args.script} did not finish the call within {args.timeout:g} s",
              file=sys.stderr)
        return 2
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        print(f"router call: cannot reach the router at agi://{host}:{port} ({reason}); is `router serve` running "
              f"there? (--agi or $ROUTER_AGI)", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"variables": result.variables, "chain": [list(s) for s in result.chain()],
                          "commands": result.commands, "ms": round(result.seconds * 1000, 3)},
                         ensure_ascii=False, indent=2))
    else:
        print(describe(result))
    if var.COUNT not in result.variables:
        print("router call: the router set no ROUTE_COUNT: the dialplan would use its own fallback queue",
              file=sys.stderr)
        return 1
    return 0


def add_parser(sub) -> None:
    sp = sub.add_parser("call", help="place a test call on a running router over FastAGI; print what the dialplan "
                                     "would receive",
                        description="Speak Asterisk's side of FastAGI to a running `router serve` and print the "
                                    "ROUTE_* variables it sets, as the dialplan would see them.")
    sp.add_argument("number", help="caller ID as the trunk delivers it, e.g. +79031234567 or '8 903 123-45-67'")
    sp.add_argument("--name", help="caller ID name")
    sp.add_argument("--dnid", help="the number that was called (the line), e.g. 88006008208")
    sp.add_argument("--region", default="RU", help="region for national numbers (default RU)")
    sp.add_argument("--any-caller-id", action="store_true",
                    help="send the caller ID as given even if it is no valid number (anonymous, junk, an extension)")
    sp.add_argument("--extension", default="s", help="the dialplan extension (default s)")
    sp.add_argument("--agi", help=f"the router's FastAGI HOST:PORT (default $ROUTER_AGI or {DEFAULT_AGI})")
    sp.add_argument("--script", default="route", help="the AGI script path (default route)")
    sp.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the whole call (default 5)")
    sp.add_argument("--json", action="store_true", help="variables, chain and the AGI commands as JSON")
    sp.set_defaults(func=run)
