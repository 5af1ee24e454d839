"""`router tail`: the live log in a terminal, one readable line per event."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp

from router.config import DEFAULT_HTTP, ConfigError, host_port


def clean(text: object) -> str:
    """Caller ID and CRM text are hostile: no control characters reach the terminal."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))


EVENT_TIME = {"decision": ("decision", "at"), "outcome": ("outcome", "ended_at")}


def line(kind: str, data: dict, zone: ZoneInfo | None = None) -> str:
    """One event; its time in the company's zone (`zone`), 24-hour, whatever the terminal's locale."""
    where, key = EVENT_TIME.get(kind, ("", ""))
    at = (data.get(where) or {}).get(key) if where else None
    now = datetime.fromtimestamp(float(at) if at else time.time(), zone).strftime("%H:%M:%S")
    if kind == "decision":
        d = data["decision"]
        c = d.get("caller") or {}
        chain = " → ".join(f"{s['type']} {s['dest']}" for s in d["steps"])
        flag = " [FALLBACK]" if d.get("fallback") else ""
        return clean(f"{now}  {c.get('number') or 'anonymous':<14} {c.get('kind', ''):<9} {c.get('abc') or '-'}  "
                     f"{(c.get('local_time') or '')[11:16]} {c.get('tz', '')}  {d['rule']}{flag}: {chain}  "
                     f"{d['latency_ms']:.2f} ms")
    if kind == "outcome":
        o = data["outcome"]
        how = f"answered by {o['by'] or '?'} after {o['ring_seconds']} s, talked {o['talk_seconds']} s" \
            if o["result"] == "answered" else f"MISSED after {o['ring_seconds']} s ({o.get('reason', '')})"
        return clean(f"{now}  {o['number']:<14} {o['direction']:<9} {how}")
    if kind == "followup":
        t = data["task"]
        return clean(f"{now}  follow-up {t.get('id')} {data['event']}: {t.get('number')} for {t.get('owner')}, "
                     f"{t.get('count')} call(s)" + (f", {t.get('closed_reason')}" if data["event"] == "closed" else ""))
    return clean(f"{now}  {kind}: {json.dumps(data, ensure_ascii=False)[:200]}")


async def follow(url: str, token: str | None, count: int = 0, out=sys.stdout) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        zone = await company_zone(s, url)
        async with s.get(url.rstrip("/") + "/api/decisions/stream", headers=headers) as resp:
            return await _print(resp, url, zone, count, out)


async def company_zone(s: aiohttp.ClientSession, url: str) -> ZoneInfo | None:
    """The rules' company zone, from /healthz; None (the terminal's zone) if it cannot be read."""
    try:
        async with s.get(url.rstrip("/") + "/healthz") as resp:
            return ZoneInfo((await resp.json())["timezone"])
    except Exception:
        return None


async def _print(resp: aiohttp.ClientResponse, url: str, zone: ZoneInfo | None, count: int, out) -> int:
    if resp.status != 200:
        print(f"router tail: {url}: HTTP {resp.status} (set ROUTER_API_TOKEN?)", file=sys.stderr)
        return 1
    seen = 0
    kind = ""
    async for raw in resp.content:
        text = raw.decode("utf-8", "replace").rstrip("\n")
        if text.startswith("event: "):
            kind = text[7:]
        elif text.startswith("data: "):
            print(line(kind, json.loads(text[6:]), zone), file=out, flush=True)
            seen += 1
            if count and seen >= count:
                return 0
    return 0


def base_url(http: str) -> str:
    """`--http HOST:PORT` as `router serve` takes it (an address it listens on everywhere is reached locally)."""
    host, port = host_port(http, "--http")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(args) -> int:
    try:
        url = args.url or base_url(args.http or os.environ.get("ROUTER_HTTP") or DEFAULT_HTTP)
    except ConfigError as e:
        print(f"router tail: {e}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(follow(url, os.environ.get("ROUTER_API_TOKEN"), args.count))
    except KeyboardInterrupt:
        return 0
    except aiohttp.ClientError as e:
        print(f"router tail: cannot reach {url} ({e}); is `router serve` running?", file=sys.stderr)
        return 1


def add_parser(sub) -> None:
    sp = sub.add_parser("tail", help="follow the live decision log, one line per event")
    sp.add_argument("--http", help="the router's HTTP HOST:PORT, as `router serve --http` takes it (default "
                                   "$ROUTER_HTTP or 127.0.0.1:8080)")
    sp.add_argument("--url", help=argparse.SUPPRESS)  # the earlier way of saying it: a whole base URL
    sp.add_argument("--count", type=int, default=0, help="stop after this many events")
    sp.set_defaults(func=run)
