"""FastAGI under abuse, over real sockets: idle floods, one address hogging slots, a HANGUP stream."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from router.asterisk import admission
from router.asterisk.admission import Admission
from router.asterisk.agi import ABUSE, MAX_SESSION_LINES, AGIProtocolError, AGISession, AGIUsageError
from router.asterisk.callsim import call, headers
from tests.helpers import MONDAY_10, RULES, Clock, compiled


async def _idle(port: int, host: str = "127.0.0.1", first_line: bool = False):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(host, 0))
    if first_line:
        writer.write(b"agi_network: yes\n")
    return reader, writer


LONG_TARGETS = "\n".join(f"  q{i}: {{queue: q{i}, timeout: 5}}" for i in range(35))
LONG_RULES = compiled(f"""
version: 1
company: {{timezone: Europe/Moscow, default_region: RU}}
targets:
{LONG_TARGETS}
rules:
  - name: everyone
    route: [{", ".join(f"q{i}" for i in range(35))}]
fallback: [q0]
""")
"""A route of 35 steps: its answer takes two commands, so the router waits for Asterisk's reply to the first
(a one-command answer ends the session as it is sent)."""


async def _in_progress(port: int, host: str, uid: int):
    """A session whose header is complete and which never answers the router's first command: a call
    being routed (the rules must be LONG_RULES)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(host, 0))
    writer.write(headers("route", uid, "+79161234500"))
    await writer.drain()
    await reader.readline()  # the router's first command: the session has started
    return reader, writer


def _close_all(conns) -> None:
    for _, w in conns:
        w.close()


async def test_idle_flood_from_the_callers_own_address_does_not_lock_out_a_call(serve, caplog):
    r = await serve(RULES, Clock(MONDAY_10))
    r.agi.admission = Admission(max_connections=50, max_per_peer=50)
    caplog.set_level(logging.INFO, "router.agi")
    flood = [await _idle(r.agi.port, first_line=i % 2 == 0) for i in range(300)]
    res = await call(r.agi.port, "+79035550101")
    assert res.variables["ROUTE_COUNT"] == "1"
    assert r.agi.flood.totals[admission.SHED] >= 250 and r.agi.active <= 50
    summaries = [rec for rec in caplog.records if admission.SHED in rec.getMessage()]
    assert 1 <= len(summaries) <= 2, [rec.getMessage() for rec in caplog.records]
    _close_all(flood)


async def test_one_address_cannot_hold_more_than_its_share_of_calls_in_progress(serve, caplog):
    r = await serve(LONG_RULES, Clock(MONDAY_10))
    r.agi.admission = Admission(max_connections=40, max_per_peer=20)
    caplog.set_level(logging.INFO, "router.agi")
    hogs = [await _in_progress(r.agi.port, "127.0.0.2", uid) for uid in range(20)]
    refused = []
    for _ in range(30):
        reader, writer = await asyncio.open_connection("127.0.0.1", r.agi.port, local_addr=("127.0.0.2", 0))
        writer.write(headers("route", 99, "+79161234500"))
        try:
            async with asyncio.timeout(5):
                refused.append(await reader.read())
        except ConnectionResetError:
            refused.append(b"")
        writer.close()
    assert refused == [b""] * 30
    assert r.agi.flood.totals[admission.REFUSED_PEER] == 30
    assert (await call(r.agi.port, "+79035550101")).variables["ROUTE_COUNT"] == "35"
    lines = [rec for rec in caplog.records if admission.REFUSED_PEER in rec.getMessage()]
    assert 1 <= len(lines) <= 2 and not any(rec.exc_info for rec in caplog.records)
    _close_all(hogs)


async def test_refusals_and_sheds_are_counted_in_metrics(serve):
    import aiohttp

    r = await serve(RULES, Clock(MONDAY_10))
    r.agi.admission = Admission(max_connections=10, max_per_peer=10)
    flood = [await _idle(r.agi.port) for _ in range(25)]
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/metrics") as resp:
        text = await resp.text()
    assert "callrouter_agi_shed_total 15" in text
    assert 'callrouter_agi_connections{state="idle"} 10' in text
    assert "callrouter_agi_connections_limit 10" in text
    _close_all(flood)


async def _hangup_stream(port: int, read_answer: bool = False) -> tuple[bytes, int, float, float]:
    """A valid header, then `HANGUP` lines until the router cuts: (the router's first line, read before the
    stream starts when `read_answer`, else b""; bytes sent; wall and CPU seconds)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(headers("route", 1, "+79161234500"))
    answer = await reader.readline() if read_answer else b""
    chunk = b"HANGUP\n" * 10_000
    cpu0, t0 = time.process_time(), time.perf_counter()
    sent = 0
    try:
        async with asyncio.timeout(5):
            while True:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(0)
    except (ConnectionError, OSError):
        pass
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    writer.close()
    return answer, sent, wall, cpu


async def test_a_stream_of_hangup_lines_after_a_one_command_answer_is_never_read(serve):
    r = await serve(RULES, Clock(MONDAY_10))
    answer, sent, wall, cpu = await _hangup_stream(r.agi.port, read_answer=True)
    assert answer.startswith(b'EXEC MSet "ROUTE_DECISION=')
    assert r.agi.flood.totals.get(ABUSE, 0) == 0  # answered and ended before reading any of it
    assert wall < 2 and sent < 5_000_000, f"{sent} bytes over {wall:.1f} s before the session ended"
    assert cpu < 1.0
    assert (await call(r.agi.port, "+79035550101")).variables["ROUTE_COUNT"] == "1"


async def test_a_stream_of_hangup_lines_while_awaiting_a_reply_is_cut_at_once_and_costs_no_cpu(serve):
    r = await serve(LONG_RULES, Clock(MONDAY_10))
    _, sent, wall, cpu = await _hangup_stream(r.agi.port)
    assert r.agi.flood.totals[ABUSE] == 1
    assert wall < 2 and sent < 5_000_000, f"the router read {sent} bytes over {wall:.1f} s before cutting"
    assert cpu < 1.0
    assert (await call(r.agi.port, "+79035550101")).variables["ROUTE_COUNT"] == "35"


async def test_a_session_may_not_send_more_lines_than_any_real_one(pair):
    conn, theirs = pair
    block = b"520-Invalid command syntax.\n" + b"usage\n" * 98 + b"520 End of proper usage.\n"
    sending = asyncio.create_task(asyncio.get_running_loop().sock_sendall(theirs, block * 50))
    session = AGISession(conn, {})
    usage_errors = 0
    try:
        with pytest.raises(AGIProtocolError, match="lines in one session"):
            while True:
                try:
                    await session.command("NOOP")
                except AGIUsageError:
                    usage_errors += 1
    finally:
        sending.cancel()
    assert usage_errors == MAX_SESSION_LINES // 100


def test_admission_sheds_the_oldest_idle_connection_and_never_a_call_in_progress():
    class Transport:
        aborted = False

        def abort(self):
            self.aborted = True

    a = Admission(max_connections=3, max_per_peer=3)
    t = [Transport() for _ in range(5)]
    s0, _, _ = a.admit(t[0], "10.0.0.1")
    s1, _, _ = a.admit(t[1], "10.0.0.1")
    a.started(s0)
    a.admit(t[2], "10.0.0.2")
    s3, why, shed = a.admit(t[3], "10.0.0.3")
    assert why is None and shed is s1 and t[1].aborted and not t[0].aborted
    a.started(s3)
    _, _, shed = a.admit(t[4], "10.0.0.4")
    assert shed is not None and shed.host == "10.0.0.2"
    a.release(s1)  # a shed slot's own end changes nothing
    assert (a.open, a.idle) == (3, 1)
    slot, why, _ = a.admit(Transport(), "10.0.0.5")
    assert slot is not None and why is None
    a.started(slot)
    assert a.admit(Transport(), "10.0.0.6") == (None, admission.REFUSED_FULL, None)


def test_admission_never_sheds_a_connection_whose_header_is_waiting_to_be_read():
    class Transport:
        def abort(self):
            pass

    a = Admission(max_connections=2, max_per_peer=2)
    call_slot, _, _ = a.admit(Transport(), "10.0.0.1", has_input=lambda: True)
    silent, _, _ = a.admit(Transport(), "10.0.0.1", has_input=lambda: False)
    _, why, shed = a.admit(Transport(), "10.0.0.1", has_input=lambda: True)
    assert why is None and shed is silent and not call_slot.shed
    a.release(call_slot)
    a.admit(Transport(), "10.0.0.1", has_input=lambda: True)
    assert a.admit(Transport(), "10.0.0.1")[1] == admission.REFUSED_PEER
