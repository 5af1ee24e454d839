"""`router rules reload|promote|rollback|rollout`: reload or stage the rules of a running router, end a rollout.

Talks to the router's HTTP API (`--url`, the bearer token from $ROUTER_API_TOKEN): `reload
--share 10` stages the rule path for 10 % of callers on every router sharing its store,
`promote` and `rollback` end the rollout everywhere, `rollout` shows both groups side by side.
Exit status 0 when the router did it, 1 when it refused (and says why), 2 when it cannot be
reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime

import aiohttp

from router.cli.tail import clean

ROWS = (("decisions", "decisions", "{}"), ("escalated_share", "escalated (busy step sent up/down)", "{:.1%}"),
        ("answered", "answered", "{}"), ("missed", "missed", "{}"), ("missed_share", "missed share", "{:.1%}"),
        ("median_seconds_to_answer", "median seconds to answer", "{:.1f}"), ("not_ended", "not ended yet", "{}"))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if t else "?"


def describe(body: dict) -> str:
    """A rollout's status, and its groups side by side, for a terminal."""
    state = body.get("state", "none")
    if state == "staged":
        lines = [f"staged {_iso(body['since'])} by {body.get('by') or 'someone unnamed'}: {body['share']}% of "
                 f"callers on version {body['candidate']}, the others on version {body['current']}"]
    elif state == "none":
        lines = [f"no rollout; version {body.get('in_force') or '?'} in force"]
    else:
        lines = [f"last rollout {state} {_iso(body.get('ended_at', 0))} by {body.get('ended_by') or 'someone unnamed'}"
                 f": version {body.get('in_force') or '?'} in force"]
    if body.get("problem"):
        lines.append(f"problem: {body['problem']}")
    groups = body.get("groups")
    if groups:
        lines.append(f"  {'':<32} {'current':>10} {'candidate':>10}")
        for key, label, fmt in ROWS:
            cells = [groups[g].get(key) for g in ("current", "candidate")]
            lines.append(f"  {label:<32} " + " ".join(f"{'-' if v is None else fmt.format(v):>10}" for v in cells))
    return "\n".join(clean(line) for line in lines) + "\n"


async def ask(url: str, method: str, path: str, token: str | None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=120, sock_connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as s, \
            s.request(method, url.rstrip("/") + path, headers=headers, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


def run(args: argparse.Namespace) -> int:
    if args.action == "reload":
        if args.share is not None:
            method, path = "POST", f"/api/rules/reload?share={args.share}"
        else:
            method, path = "POST", "/api/rules/reload"
    elif args.action in ("promote", "rollback"):
        method, path = "POST", f"/api/rules/{args.action}"
    else:
        method, path = "GET", "/api/rules/rollout"
    body = {"by": args.by} if args.by and method == "POST" else None
    try:
        status, found = asyncio.run(ask(args.url, method, path, os.environ.get("ROUTER_API_TOKEN"), body))
    except (aiohttp.ClientError, TimeoutError) as e:
        print(f"router rules: cannot reach {args.url} ({e or type(e).__name__}); is `router serve` running?",
              file=sys.stderr)
        return 2
    if status >= 400:
        print(clean(f"router rules {args.action}: HTTP {status}: {found.get('error') or 'refused'}"), file=sys.stderr)
        for p in found.get("problems", []):
            print(clean(p), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    elif args.action == "reload" and args.share is None:
        print(clean(f"reloaded {found.get('path')}: {found.get('rules')} rules"))
    else:
        sys.stdout.write(describe(found))
    return 0


def add_parser(sub) -> None:
    sp = sub.add_parser("rules", help="reload or stage the rules of a running router; promote or roll back")
    sp.add_argument("action", choices=("reload", "promote", "rollback", "rollout"),
                    help="reload (with --share: stage for a share of callers), promote, rollback, or show the "
                         "rollout")
    sp.add_argument("--share", type=int, metavar="PERCENT", help="with reload: stage the rule path for this per "
                                                                 "cent of callers (1-100) on every router")
    sp.add_argument("--by", help="who does it (logged and shown)")
    sp.add_argument("--url", default="http://127.0.0.1:8080", help="the router's HTTP address")
    sp.add_argument("--json", action="store_true", help="the router's answer as JSON")
    sp.set_defaults(func=run)
