"""The live stream over a real aiohttp server: what it costs the router must not grow with its audience."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import orjson
import pytest

from router.asterisk.callsim import call
from router.state.factory import open_store
from router.state.store import Store
from router.web import broadcast as bc
from tests.helpers import MONDAY_10, RULES, Clock


async def _subscribe(session: aiohttp.ClientSession, port: int) -> aiohttp.ClientResponse:
    resp = await session.get(f"http://127.0.0.1:{port}/api/decisions/stream")
    assert resp.status == 200 and await resp.content.readline() == b": connected\n"
    await resp.content.readline()
    return resp


async def _events(resp: aiohttp.ClientResponse, n: int) -> list[dict]:
    out = []
    async with asyncio.timeout(10):
        while len(out) < n:
            line = await resp.content.readline()
            if line.startswith(b"data: "):
                out.append(orjson.loads(line[6:]))
    return out


async def _wait_subscribers(r, n: int) -> None:
    async with asyncio.timeout(10):
        while len(r.router.broadcast.subscribers) < n:
            await asyncio.sleep(0.01)


async def test_each_event_is_serialised_once_however_many_listen(serve, monkeypatch):
    r = await serve(RULES, Clock(MONDAY_10))
    dumps = orjson.dumps
    calls = []

    def counting(obj, *a, **kw):
        calls.append(obj)
        return dumps(obj, *a, **kw)

    async with aiohttp.ClientSession() as s:
        clients = [await _subscribe(s, r.http_port) for _ in range(40)]
        await _wait_subscribers(r, 40)
        monkeypatch.setattr(orjson, "dumps", counting)
        for i in range(5):
            r.router.broadcast.publish({"type": "decision", "n": i})
        monkeypatch.setattr(orjson, "dumps", dumps)
        got = [await _events(c, 5) for c in clients]
        for c in clients:
            c.close()
    assert all([e["n"] for e in events] == [0, 1, 2, 3, 4] for events in got)
    assert len(calls) == 5


async def test_subscribers_past_the_limit_get_503_with_a_reason(serve):
    r = await serve(RULES, Clock(MONDAY_10))
    r.router.broadcast.max_subscribers = 3
    async with aiohttp.ClientSession() as s:
        clients = [await _subscribe(s, r.http_port) for _ in range(3)]
        async with s.get(f"http://127.0.0.1:{r.http_port}/api/decisions/stream") as resp:
            assert resp.status == 503 and "3 live-stream clients" in (await resp.json())["error"]
        clients[0].close()
        async with asyncio.timeout(10):  # a departed client's slot is freed at the next write to it
            while len(r.router.broadcast.subscribers) > 2:
                r.router.broadcast.publish({"type": "decision"})
                await asyncio.sleep(0.01)
        clients[0] = await _subscribe(s, r.http_port)
        for c in clients:
            c.close()
    assert r.router.broadcast.flood.totals[bc.REFUSED] == 1


async def _stalled_reader(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An SSE client that sends its request and then never reads: its socket buffers fill up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.transport.set_write_buffer_limits(0)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(b"GET /api/decisions/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    return reader, writer


async def test_slow_clients_are_dropped_after_a_bounded_backlog_with_one_summary_line(serve, caplog):
    caplog.set_level(logging.WARNING, "router.broadcast")
    r = await serve(RULES, Clock(MONDAY_10))
    b = r.router.broadcast
    b.backlog = 20
    async with aiohttp.ClientSession() as s:
        fast = await _subscribe(s, r.http_port)
        slow = [await _stalled_reader(r.http_port) for _ in range(8)]
        await _wait_subscribers(r, 9)
        payload = "x" * 20_000
        sent = 0
        async with asyncio.timeout(20):
            while len(b.subscribers) > 1:
                b.publish({"type": "decision", "n": sent, "pad": payload})
                sent += 1
                if sent % 5 == 0:
                    got = await _events(fast, 5)
                    assert got[-1]["n"] == sent - 1
                    await asyncio.sleep(0)
        assert fast.connection is not None and not fast.content.at_eof()
        async with asyncio.timeout(10):  # the router closed their connections: only the fast one is left
            while len(r.http.server.connections) > 1:
                await asyncio.sleep(0.01)
        for _, writer in slow:
            writer.close()
        fast.close()
    assert b.flood.totals[bc.DROPPED] == 8 and sent < 2000
    b.flood.flush()
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "router.broadcast"]
    assert 1 <= len(lines) <= 2, lines
    assert sum(int(line.split(": ")[1].split()[0]) for line in lines) == 8


def test_publish_with_nobody_listening_serialises_nothing(monkeypatch):
    b = bc.Broadcast()
    monkeypatch.setattr(bc, "frame", lambda e: (_ for _ in ()).throw(AssertionError("serialised")))
    b.publish({"type": "decision"})


async def _read_past_a_marker(feed, store: Store, decisions: int) -> None:
    """Once `decisions` are in the log, an event after them; returns when the feed has read it: it
    has then read every decision it reads at all (one XREAD takes whatever came before)."""
    async with asyncio.timeout(10):
        while await store.r.xlen(store.k.decisions) < decisions:
            await asyncio.sleep(0.01)
    await store.share([{"type": "marker"}])
    async with asyncio.timeout(10):
        while not feed.read[store.k.live]:
            await asyncio.sleep(0.01)


async def test_a_router_nobody_watches_reads_none_of_its_decisions_back(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    await asyncio.wait_for(r.router.feed.ready.wait(), 10)
    for i in range(5):
        await call(r.agi.port, f"+7903555{i:04d}", uid=i + 1)
    await _read_past_a_marker(r.router.feed, store, decisions=5)
    assert r.router.feed.read[store.k.decisions] == 0


@pytest.mark.slow
async def test_a_watched_router_relays_another_routers_decisions_then_stops(serve, redis_url, prefix):
    stores = [open_store(redis_url, prefix), open_store(redis_url, prefix)]
    try:
        a = await serve(RULES, Clock(MONDAY_10), the_store=stores[0])
        b = await serve(RULES, Clock(MONDAY_10), the_store=stores[1])
        async with aiohttp.ClientSession() as s:
            resp = await _subscribe(s, b.http_port)
            res = await call(a.agi.port, "+79035550001", uid=1)
            got = await _events(resp, 1)
            assert got[0]["decision"]["id"] == res.variables["ROUTE_DECISION"]
            assert got[0]["decision"]["instance"] == a.router.instance != b.router.instance
            resp.close()
        for sub in list(b.router.broadcast.subscribers):  # the server notices a closed page at its next write
            b.router.broadcast.unsubscribe(sub)
        await call(a.agi.port, "+79035550002", uid=2)
        await _read_past_a_marker(b.router.feed, stores[0], decisions=2)
        assert b.router.feed.read[stores[0].k.decisions] == 1
    finally:
        for st in stores:
            await st.close()
