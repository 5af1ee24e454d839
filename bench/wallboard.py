#!/usr/bin/env python3
"""What the wallboard costs the event loop that answers calls: folding one AMI event into the live queues,
and building one board (done at most every 200 ms, and once a second while a screen watches).

    python bench/wallboard.py                 # 10 queues x 30 members, 40 callers waiting
    python bench/wallboard.py --queues 50 --members 100

Pure Python in this process (no Redis, no sockets): the numbers are the wallboard's own share of a
router's CPU. Prints one Markdown row.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.asterisk.queuelive import QueueLive  # noqa: E402
from router.core.rules import ReportSettings  # noqa: E402
from router.core.wallboardrules import WallboardSettings  # noqa: E402
from router.wallboard.board import board, today_figures  # noqa: E402


def day_events(queues: int, members: int, callers: int, rng: random.Random) -> list[dict]:
    """A busy stretch of a day: every member's status, then callers who join, are rung, answered or give up."""
    names = [f"queue-{i}" for i in range(queues)]
    out: list[dict] = []
    for q in names:
        for m in range(members):
            out.append({"Event": "QueueMemberStatus", "Queue": q, "Interface": f"PJSIP/{1000 + m}",
                        "MemberName": f"Agent {m}", "Status": "1", "Paused": "0", "InCall": "0"})
    for c in range(callers):
        q, uid, member = rng.choice(names), f"{c}.1", f"PJSIP/{1000 + rng.randrange(members)}"
        out.append({"Event": "QueueCallerJoin", "Queue": q, "Uniqueid": uid, "Position": "1"})
        out.append({"Event": "AgentCalled", "Queue": q, "Uniqueid": uid, "Interface": member})
        out.append({"Event": "QueueMemberStatus", "Queue": q, "Interface": member, "Status": "6", "Paused": "0",
                    "InCall": "0"})
        out.append({"Event": "QueueCallerLeave", "Queue": q, "Uniqueid": uid})
        if rng.random() < 0.9:
            out.append({"Event": "AgentConnect", "Queue": q, "Uniqueid": uid, "Interface": member,
                        "HoldTime": str(rng.randrange(60))})
            out.append({"Event": "AgentComplete", "Queue": q, "Uniqueid": uid, "Interface": member})
        else:
            out.append({"Event": "QueueCallerAbandon", "Queue": q, "Uniqueid": uid, "HoldTime": "30"})
        out.append({"Event": "Hangup", "Uniqueid": uid})
    return out


def per_call(f: Callable[[], None], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - started) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queues", type=int, default=10)
    ap.add_argument("--members", type=int, default=30)
    ap.add_argument("--waiting", type=int, default=40)
    ap.add_argument("--callers", type=int, default=20_000)
    args = ap.parse_args()
    rng = random.Random(1)
    events = day_events(args.queues, args.members, args.callers, rng)
    live = QueueLive(lambda t: "day", lambda queue: 10)
    now = time.time()
    started = time.perf_counter()
    for e in events:
        live.feed(e, now)
    fold_us = (time.perf_counter() - started) / len(events) * 1e6
    for i in range(args.waiting):
        live.feed({"Event": "QueueCallerJoin", "Queue": f"queue-{i % args.queues}", "Uniqueid": f"w{i}"}, now - i)
    settings = WallboardSettings()
    owners = {f"owner{i}": {"open": i, "overdue": i % 4} for i in range(200)}
    report = ReportSettings()
    build_ms = per_call(lambda: board(live.snapshot(now), today_figures(live.day_counts(now), report), owners,
                                      settings, now), 200) * 1e3
    print("| queues x members | events folded | fold per event | one board |")
    print("|---|---|---|---|")
    print(f"| {args.queues} x {args.members} | {len(events):,} | {fold_us:.2f} µs | {build_ms:.2f} ms |")


if __name__ == "__main__":
    main()
