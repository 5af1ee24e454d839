"""Floods against a real `router serve`: idle connections, running out of file descriptors, HANGUP streams.

Each test asserts what the attack cost: calls still answered, refusals counted in /metrics, a
bounded number of log lines, the router's CPU near idle once the attack stops, and its file
descriptors back to where they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import resource
import socket
import time

import pytest

from router.asterisk.callsim import headers

FLOOD = 5000


@pytest.fixture(autouse=True)
def _room_for_a_flood():
    """The test process holds the flood's sockets itself: lift its own soft limit for the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FLOOD + 1000:
        pytest.skip(f"the hard limit on open files is {hard}: a {FLOOD}-connection flood needs more")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_idle(port: int, n: int, seconds: float = 20) -> list[socket.socket]:
    """`n` connections that never send a byte, opened without waiting on each handshake."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", port))
        assert err in (0, errno.EINPROGRESS), errno.errorcode.get(err)
        socks.append(s)
    return socks


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def metrics(r) -> str:
    status, text = r.http("/metrics")
    assert status == 200
    return text


def wait_fds(r, baseline: int, seconds: float = 15) -> int:
    deadline = time.monotonic() + seconds
    while r.fds() > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return r.fds()


def idle_cpu(r, seconds: float = 1.0) -> float:
    """CPU seconds the router uses over a quiet window."""
    before = r.cpu_seconds()
    time.sleep(seconds)  # measuring a window of real time, not waiting for something to happen
    return r.cpu_seconds() - before


def summary_lines(log: str, since: int) -> list[str]:
    return [line for line in log[since:].splitlines() if " router.agi: AGI: " in line]


def test_a_real_call_is_answered_while_5000_idle_connections_are_held(redis_server, router_process):
    r = router_process(store=redis_server.url)
    assert r.call("+79161234501").variables["ROUTE_COUNT"]
    baseline, log_mark = r.fds(), len(r.log())
    t0 = time.monotonic()
    flood = open_idle(r.agi_port, FLOOD)
    try:
        during = r.call("+79161230001", uid=2, timeout=10)  # behind the burst in the listen queue
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the router has taken in the whole flood
            text = metrics(r)
            if metric(text, "callrouter_agi_shed_total") + metric(text, 'callrouter_agi_connections{state="idle"}') \
                    >= FLOOD * 0.95:
                break
            time.sleep(0.05)
        held = metric(text, 'callrouter_agi_connections{state="idle"}')
        answered = [r.call(f"+7916123{uid:04d}", uid=uid, timeout=5) for uid in range(10, 20)]
        attack = time.monotonic() - t0
        text = metrics(r)
    finally:
        close_all(flood)
    assert during.variables.get("ROUTE_COUNT")
    assert [bool(res.variables.get("ROUTE_COUNT")) for res in answered] == [True] * 10
    assert max(res.seconds for res in answered) < 1.0, [round(res.seconds, 3) for res in answered]
    # the flood shares the calls' address: it holds at most its share, older ones shed for newer
    assert 500 <= held <= 1000, held
    assert metric(text, "callrouter_agi_shed_total") >= FLOOD // 2, text
    assert metric(text, 'callrouter_agi_refused_total{reason="per_peer"}') == 0
    assert metric(text, 'callrouter_agi_refused_total{reason="out_of_fds"}') == 0
    assert metric(text, 'callrouter_agi_refused_total{reason="full"}') == 0
    assert wait_fds(r, baseline) <= baseline + 2
    assert idle_cpu(r) < 0.1
    log = r.log()
    lines = summary_lines(log, log_mark)
    assert 1 <= len(lines) <= attack + 10, lines  # one summary a second (idle time-outs come 2 s later)
    assert "Traceback" not in log and len(log) - log_mark < 20_000


def test_the_soft_limit_on_open_files_is_raised_to_the_hard_one(redis_server, router_process):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # systemd's default soft limit
    try:
        r = router_process(store=redis_server.url)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert resource.prlimit(r.pid, resource.RLIMIT_NOFILE) == (hard, hard)
    assert metric(metrics(r), "callrouter_agi_connections_limit") == 2000


def test_running_out_of_file_descriptors_is_counted_and_summarised_not_a_traceback_each(
        redis_server, router_process):
    r = router_process(store=redis_server.url)
    assert r.call("+79161234501").variables["ROUTE_COUNT"]
    resource.prlimit(r.pid, resource.RLIMIT_NOFILE, (256, 256))  # as if the unit had no LimitNOFILE
    baseline, log_mark = r.fds(), len(r.log())
    flood = open_idle(r.agi_port, 1500)
    try:
        deadline = time.monotonic() + 10
        while "accept() failures" not in r.log()[log_mark:] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        close_all(flood)
    assert wait_fds(r, baseline) <= baseline + 2
    deadline = time.monotonic() + 10
    res = None
    while time.monotonic() < deadline:  # asyncio pauses accepting for 1 s after a failed accept()
        with contextlib.suppress(OSError, TimeoutError):
            res = r.call("+79161234502", uid=2, timeout=3)
            if res.variables.get("ROUTE_COUNT"):
                break
    assert res is not None and res.variables.get("ROUTE_COUNT")
    assert metric(metrics(r), 'callrouter_agi_refused_total{reason="out_of_fds"}') >= 1
    log = r.log()
    assert "Traceback" not in log[log_mark:] and "out of system resource" not in log[log_mark:]
    assert len(summary_lines(log, log_mark)) <= 15


async def _hangup_stream(port: int, seconds: float) -> tuple[float, int]:
    """A session with a valid header, then nothing but `HANGUP` lines: (seconds until cut, bytes sent)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(headers("route", 9000, "+79161239000"))
    chunk = b"HANGUP\n" * 5000
    t0, sent = time.monotonic(), 0
    try:
        while time.monotonic() - t0 < seconds:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
            await asyncio.sleep(0)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.monotonic() - t0, sent


async def _good_calls(r, n: int, every: float) -> list[float]:
    seconds = []
    for uid in range(n):
        res = await r.acall(f"+7916555{uid:04d}", uid=100 + uid, timeout=10)
        assert res.variables.get("ROUTE_COUNT")
        seconds.append(res.seconds)
        await asyncio.sleep(every)
    return seconds


def test_sessions_streaming_hangup_lines_are_cut_and_cost_the_router_nothing(redis_server, router_process):
    r = router_process(store=redis_server.url)
    assert r.call("+79161234501").variables["ROUTE_COUNT"]
    baseline, cpu0 = r.fds(), r.cpu_seconds()

    async def attack():
        return await asyncio.gather(*(_hangup_stream(r.agi_port, 3.0) for _ in range(4)), _good_calls(r, 20, 0.1))

    *streams, good = asyncio.run(attack())
    cpu = r.cpu_seconds() - cpu0
    assert all(cut < 1.0 for cut, _ in streams), streams
    assert max(good) < 0.5, sorted(good)[-3:]
    assert cpu < 1.0, f"the router used {cpu:.2f} s of CPU during the attack"
    # each attacker was answered and its session ended without a line of the stream read; a session that
    # waits for a reply cuts such a stream itself (tests/test_agi_limits.py)
    assert metric(metrics(r), "callrouter_decisions_total") == 1 + 4 + 20
    assert metric(metrics(r), 'callrouter_agi_bad_sessions_total{reason="abuse"}') == 0
    assert wait_fds(r, baseline) <= baseline + 2
    assert idle_cpu(r) < 0.1


async def _sse_client(port: int, events: list[int], token: str = "") -> int:
    """Open the event stream over a raw socket; count `decision` events until closed. The HTTP status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    query = f"?token={token}" if token else ""
    writer.write(f"GET /api/decisions/stream{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    try:
        status = int((await reader.readline()).split()[1])
        if status != 200:
            return status
        events.append(0)
        i = len(events) - 1
        while line := await reader.readline():
            if line == b"event: decision\n":
                events[i] += 1
        return status
    except (ConnectionError, asyncio.CancelledError):
        return 200
    finally:
        writer.close()


def test_a_thousand_stream_clients_do_not_tax_routing(redis_server, router_process):
    r = router_process(store=redis_server.url, env={"ROUTER_API_TOKEN": "s3cret"})
    assert r.call("+79161234501").variables["ROUTE_COUNT"]
    baseline, log_mark = r.fds(), len(r.log())

    async def scene():
        events: list[int] = []
        clients = [asyncio.create_task(_sse_client(r.http_port, events, "s3cret")) for _ in range(1000)]
        done, _ = await asyncio.wait(clients, timeout=20)  # the refused ones end at once
        refused = [t.result() for t in done]
        async with asyncio.timeout(20):
            while len(events) < 1000 - len(refused):
                await asyncio.sleep(0.01)
        latencies = []
        for uid in range(30):
            res = await r.acall(f"+7916444{uid:04d}", uid=200 + uid, timeout=10)
            assert res.variables.get("ROUTE_COUNT")
            latencies.append(res.seconds)
            await asyncio.sleep(0.1)  # 10 calls a second
        async with asyncio.timeout(20):
            while min(events) < 30:
                await asyncio.sleep(0.01)
        for t in clients:
            t.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        return refused, events, latencies

    refused, events, latencies = asyncio.run(scene())
    assert sorted(set(refused)) == [503] and len(refused) == 900
    assert len(events) == 100 and min(events) == 30 == max(events)
    latencies.sort()
    assert latencies[-2] < 0.5, latencies[-5:]
    assert wait_fds(r, baseline) <= baseline + 2
    assert idle_cpu(r) < 0.1
    lines = [line for line in r.log()[log_mark:].splitlines() if "router.broadcast" in line]
    assert 1 <= len(lines) <= 20, lines


def test_http_rejects_non_object_json_and_takes_the_query_token_only_on_the_stream(redis_server, router_process):
    r = router_process(store=redis_server.url, env={"ROUTER_API_TOKEN": "s3cret", "ROUTER_METRICS_TOKEN": "m3"})
    auth = {"Authorization": "Bearer s3cret", "Content-Type": "application/json"}
    for body in (b"[]", b'"x"', b"1", b"null"):
        status, answer = r.http("/api/followups/f1/close", "POST", body, auth)
        assert status == 400 and "must be a JSON object" in answer["error"], (body, status, answer)
    assert r.http("/api/rules/reload?token=s3cret", "POST", b"")[0] == 401
    assert r.http("/api/decisions?token=s3cret")[0] == 401
    assert r.http("/metrics")[0] == 401 and r.http("/metrics", headers={"Authorization": "Bearer m3"})[0] == 200

    assert asyncio.run(_first_status(r.http_port, "s3cret")) == 200
    assert "Traceback" not in r.log()


async def _first_status(port: int, token: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/decisions/stream?token={token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    try:
        async with asyncio.timeout(10):
            return int((await reader.readline()).split()[1])
    finally:
        writer.close()
