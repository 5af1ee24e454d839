#!/usr/bin/env python3
"""What floods cost a real `router serve`: idle connections, HANGUP streams, a thousand live-stream clients.

    python bench/abuse.py                       # this checkout
    python bench/abuse.py --checkout /old/tree  # another checkout of the router, for before/after

Each scenario starts its own redis-server and router (soft limit on open files 1024, as under
systemd without LimitNOFILE), runs the attack for `--seconds` while real calls arrive at 10 a
second, and prints one Markdown row: calls answered, their latency, the router's CPU during and
after the attack, its open files, and what it wrote to its log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.asterisk.callsim import call, headers  # noqa: E402

CALLS_PER_SECOND = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


class Router:
    def __init__(self, checkout: Path, workdir: Path, redis_url: str):
        self.agi, self.http = free_port(), free_port()
        self.log_path = workdir / f"router-{self.agi}.log"
        env = {**os.environ, "PYTHONPATH": str(checkout)}

        def systemd_default_limit() -> None:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "router", "serve", "--rules", str(checkout / "rules" / "default.yaml"),
                 "--store", redis_url, "--agi", f"127.0.0.1:{self.agi}", "--http", f"127.0.0.1:{self.http}"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir, preexec_fn=systemd_default_limit)
        wait_port(self.agi)
        wait_port(self.http)

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def good_calls(port: int, seconds: float) -> tuple[int, int, list[float]]:
    """Calls at 10 a second, each counted from its start: (placed, answered, latencies of the answered)."""
    tasks = []
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        n += 1
        tasks.append(asyncio.create_task(call(port, f"+7916777{n:04d}", uid=50_000 + n, timeout=10)))
        await asyncio.sleep(1 / CALLS_PER_SECOND)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    ok = [r.seconds for r in results if not isinstance(r, BaseException) and r.variables.get("ROUTE_COUNT")]
    return n, len(ok), ok


class IdleFlood:
    """Holds `n` idle connections, opening a new one whenever the router closes one."""

    def __init__(self, port: int, n: int):
        self.port, self.n = port, n
        self.sel = selectors.DefaultSelector()
        self.reopened = 0
        for _ in range(n):
            self._open()

    def _open(self) -> None:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        self.sel.register(s, selectors.EVENT_READ)

    async def hold(self, seconds: float) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            for key, _ in self.sel.select(0):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(s)
                    s.close()
                    self.reopened += 1
                    self._open()
            await asyncio.sleep(0.05)

    def close(self) -> None:
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


async def hangup_stream(port: int, seconds: float) -> None:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(headers("route", 9000, "+79161239000"))
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            writer.write(b"HANGUP\n" * 5000)
            await writer.drain()
            await asyncio.sleep(0)
        writer.close()
    except (ConnectionError, OSError):
        pass


async def sse_client(port: int, statuses: list[int]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/decisions/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        statuses.append(int((await reader.readline()).split()[1]))
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError, IndexError, ValueError):
        statuses.append(0)
    finally:
        with contextlib.suppress(UnboundLocalError):
            writer.close()


async def scenario(name: str, r: Router, seconds: float) -> dict:
    cpu0, fds0, log0 = r.cpu(), r.fds(), len(r.log())
    extra = ""
    t0 = time.monotonic()
    if name == "idle":
        flood = IdleFlood(r.agi, 5000)
        placed, answered, lat = (await asyncio.gather(good_calls(r.agi, seconds), flood.hold(seconds)))[0]
        flood.close()
        extra = f"{flood.reopened} reconnects"
    elif name == "hangup":
        *_, (placed, answered, lat) = await asyncio.gather(*(hangup_stream(r.agi, seconds) for _ in range(4)),
                                                           good_calls(r.agi, seconds))
    else:
        statuses: list[int] = []
        clients = [asyncio.create_task(sse_client(r.http, statuses)) for _ in range(1000)]
        await asyncio.sleep(3)
        placed, answered, lat = await good_calls(r.agi, seconds)
        extra = f"{statuses.count(200)} served, {statuses.count(503)} refused"
        for c in clients:
            c.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
    wall = time.monotonic() - t0
    cpu_attack = r.cpu() - cpu0
    await asyncio.sleep(3)
    cpu1 = r.cpu()
    await asyncio.sleep(2)
    after = (r.cpu() - cpu1) / 2
    log = r.log()[log0:]
    if "Traceback" in log:
        shutil.copy(r.log_path, Path(tempfile.gettempdir()) / f"abuse-{name}.log")
    lat.sort()
    pct = (lambda q: f"{lat[min(len(lat) - 1, int(q * len(lat)))] * 1000:.0f}") if lat else (lambda q: "-")
    return {"scenario": name, "answered": f"{answered}/{placed}", "p50 ms": pct(0.5), "p99 ms": pct(0.99),
            "CPU during": f"{cpu_attack / wall:.0%}", "CPU after": f"{after:.0%}",
            "fds before/after": f"{fds0}/{r.fds()}", "log lines": len(log.splitlines()),
            "tracebacks": log.count("Traceback"), "log KB": len(log.encode()) // 1024, "note": extra}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkout", type=Path, default=ROOT)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--only", choices=("idle", "hangup", "stream"))
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [args.only] if args.only else ["idle", "hangup", "stream"]:
            port = free_port()
            redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port),
                                      "--save", "", "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
            wait_port(port)
            r = Router(args.checkout.resolve(), Path(tmp), f"redis://127.0.0.1:{port}/0")
            try:
                rows.append(asyncio.run(scenario(name, r, args.seconds)))
            finally:
                r.stop()
                redis.terminate()
                redis.wait()
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
