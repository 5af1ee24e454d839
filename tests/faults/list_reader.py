"""Readers of the router's largest lists, run as a process of their own by the fault tests (never
imported): `--readers` threads, each walking every list it is given page after page, 500 a page,
over and over, until SIGTERM; then one JSON line says what they read.

    python tests/faults/list_reader.py --readers 5 http://127.0.0.1:8080 /api/risk /api/followups

Real readers are browsers on other machines; these share the router's cores, so they cost as
little as a reader can: each page is read whole but not decoded (its `next` cursor is found at
its end), and the process runs at a lower priority (nice 10) than the router and the callers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import threading
import time
import urllib.request

PAGE = 500
NEXT = re.compile(rb'"next":(?:"([A-Za-z0-9_-]+)"|null)')


class Reader(threading.Thread):
    def __init__(self, base: str, paths: list[str], stopping: threading.Event):
        super().__init__(daemon=True)
        self.base, self.paths, self.stopping = base, paths, stopping
        self.pages = self.size = 0
        self.slowest = 0.0

    def run(self) -> None:
        while not self.stopping.is_set():
            for path in self.paths:
                cursor = None
                while not self.stopping.is_set():
                    url = f"{self.base}{path}?limit={PAGE}" + (f"&cursor={cursor}" if cursor else "")
                    t0 = time.perf_counter()
                    with urllib.request.urlopen(url, timeout=120) as resp:
                        raw = resp.read()
                    self.slowest = max(self.slowest, time.perf_counter() - t0)
                    self.pages += 1
                    self.size += len(raw)
                    found = NEXT.findall(raw[-200:])
                    cursor = found[-1].decode() if found and found[-1] else None
                    if cursor is None:
                        break


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readers", type=int, default=5)
    ap.add_argument("base")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    os.nice(10)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    readers = [Reader(args.base, args.paths, stopping) for _ in range(args.readers)]
    for r in readers:
        r.start()
    stopping.wait()
    for r in readers:
        r.join(120)
    print(json.dumps({"pages": sum(r.pages for r in readers), "bytes": sum(r.size for r in readers),
                      "slowest_page_ms": round(max(r.slowest for r in readers) * 1000)}), flush=True)


if __name__ == "__main__":
    main()
