"""The router over a real FastAGI socket, against real Redis, with the clock injected."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime

import pytest

from router.asterisk import agi
from router.asterisk.callsim import call, parse_args
from router.state.factory import open_store
from tests.asterisk import AGI_RECORDINGS
from tests.helpers import MONDAY_10, MSK, RULES, Clock, wait_for

CONTRACT = ("ROUTE_DECISION", "ROUTE_RULE", "ROUTE_CALLER_KIND", "ROUTE_ABC", "ROUTE_MANAGER", "ROUTE_TZ",
            "ROUTE_PRIORITY", "ROUTE_COUNT")


@pytest.fixture
async def customers(store):
    await store.put_customers([
        ("+79035550101", {"name": "Olga", "abc": "A", "manager": "ivanov"}),
        ("+79035550102", {"name": "Romashka", "abc": "A", "manager": "petrova"}),
        ("+79035550103", {"name": "Pavel", "abc": "B", "manager": "ivanov"}),
        ("+79035550104", {"name": "Irina", "abc": "C"}),
        ("+79147000123", {"name": "Port", "abc": "B"}),
    ])
    await store.replace_numbering([(79140000000, 79149999999, "Asia/Vladivostok", "Приморский край")])


async def test_a_customer_reaches_their_manager(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550101", "Olga")
    v = res.variables
    assert res.chain() == [("dial", "PJSIP/101", "20")]
    assert (v["ROUTE_RULE"], v["ROUTE_CALLER_KIND"], v["ROUTE_ABC"], v["ROUTE_MANAGER"], v["ROUTE_TZ"]) == \
        ("A customers reach their manager", "known", "A", "ivanov", "Europe/Moscow")
    assert set(CONTRACT) <= set(v) and v["ROUTE_COUNT"] == "1"


async def test_busy_manager_escalates_up_as_the_rule_says(serve, customers, store):
    await store.set_device_state("PJSIP/102", "INUSE")
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550102")
    assert res.chain() == [("queue", "management", "30")]


async def test_busy_manager_escalates_down_as_the_rule_says(serve, customers, store):
    await store.set_device_state("PJSIP/101", "BUSY")
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550103")
    assert res.chain() == [("queue", "operators", "60")]
    await store.set_device_state("PJSIP/101", "NOT_INUSE")
    res2 = await call(r.agi.port, "+79035550103", uid=2)
    assert res2.chain()[0] == ("dial", "PJSIP/101", "20")


async def test_unknown_number_gets_new_connection_with_priority(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    v = (await call(r.agi.port, "+79161234500")).variables
    assert (v["ROUTE_CALLER_KIND"], v["ROUTE_1_TYPE"], v["ROUTE_1_DEST"], v["ROUTE_PRIORITY"]) == \
        ("new", "queue", "new-connection", "10")


async def test_c_customer_gets_self_service(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    assert (await call(r.agi.port, "+79035550104")).chain() == [("ivr", "self-service", "60")]


async def test_second_call_within_window_is_repeat(serve, customers):
    clock = Clock(MONDAY_10)
    r = await serve(RULES, clock)
    first = await call(r.agi.port, "8 916 123-45-00", uid=1)
    clock.advance(30 * 60)
    second = await call(r.agi.port, "+79161234500", uid=2)
    clock.advance(2 * 3600)
    third = await call(r.agi.port, "+79161234500", uid=3)
    assert [x.variables["ROUTE_CALLER_KIND"] for x in (first, second, third)] == ["new", "repeat", "known"]
    assert second.chain() == [("queue", "operators", "60")]


async def test_far_east_callers_local_time_picks_the_night_rule(serve, customers):
    # 23:30 in Moscow is 06:30 next day in Vladivostok; 22:30 is 05:30 there: night
    late = datetime(2026, 11, 23, 22, 30, tzinfo=MSK).timestamp()
    r = await serve(RULES, Clock(late))
    far = (await call(r.agi.port, "+79147000123", uid=1)).variables
    near = (await call(r.agi.port, "+79035550103", uid=2)).variables
    assert (far["ROUTE_TZ"], far["ROUTE_RULE"], far["ROUTE_1_DEST"]) == \
        ("Asia/Vladivostok", "night in the caller's zone", "PJSIP/900")
    assert (near["ROUTE_TZ"], near["ROUTE_RULE"]) == ("Europe/Moscow", "B customers, busy manager goes down")


async def test_callback_after_our_missed_call(serve, customers, store):
    await store.record_outbound("+79035550104", MONDAY_10 - 600, answered=False)
    r = await serve(RULES, Clock(MONDAY_10))
    assert (await call(r.agi.port, "+79035550104")).variables["ROUTE_CALLER_KIND"] == "callback"


async def test_every_value_is_quoted_and_hostile_text_cannot_inject_commands(serve, store):
    await store.put_customers([("+79035550199", {"name": 'Evil "quote" \\ back', "abc": "A",
                                                 "manager": "ivanov"})])
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550199", 'x"\nHANGUP\nEXEC System rm')
    assert len(res.commands) == 1 and res.commands[0].startswith('EXEC MSet "ROUTE_DECISION='), res.commands
    assert len(parse_args(res.commands[0])) == 3 and res.commands[0].endswith('"')
    assert res.variables["ROUTE_1_DEST"] == "PJSIP/101"


async def test_every_variable_arrives_in_one_agi_command(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550101", "Olga")
    assert len(res.commands) == 1
    assert set(res.variables) == {*CONTRACT, "ROUTE_1_TYPE", "ROUTE_1_DEST", "ROUTE_1_TIMEOUT", "CDR(userfield)"}
    # what the walker used to set after the AGI, now in the same command
    assert res.variables["CDR(userfield)"] == res.variables["ROUTE_DECISION"]


async def test_empty_values_are_left_unset_on_a_first_answer(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550999", "")  # a new caller: no class, no manager
    assert res.variables["ROUTE_CALLER_KIND"] == "new" and res.variables["ROUTE_1_DEST"] == "new-connection"
    assert "ROUTE_ABC" not in res.variables and "ROUTE_MANAGER" not in res.variables
    assert "ROUTE_ABC=" not in res.commands[0]
    assert res.variables["QUEUE_PRIO"] == res.variables["ROUTE_PRIORITY"] == "10"


async def test_an_answer_to_an_ivr_choice_sets_every_variable_even_empty(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550998", "", args=("choice=new-connection",))
    # the channel still holds the first answer's values: empty ones must overwrite them
    assert res.variables["ROUTE_ABC"] == "" and res.variables["ROUTE_MANAGER"] == ""


async def test_a_chain_without_a_queue_sets_no_queue_priority(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550104", "Irina")  # a C customer: the self-service IVR
    assert [t for t, _, _ in res.chain()] == ["ivr"], res.chain()
    assert "QUEUE_PRIO" not in res.variables


async def test_recorded_asterisk_header_with_long_cyrillic_name_is_routed(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    block = (AGI_RECORDINGS / "agi_009_route_5000.env.raw").read_bytes()
    reader, writer = await asyncio.open_connection("127.0.0.1", r.agi.port)
    writer.write(block)
    commands = []
    while line := await reader.readline():
        commands.append(line.decode())
        writer.write(b"200 result=1\n")
    writer.close()
    assert len(commands) == 1 and commands[0].startswith('EXEC MSet "ROUTE_DECISION=')
    entries = await r.router.log.newest(1)
    assert entries[0]["call"]["name"].startswith("Акционерное общество") and entries[0]["caller"]["number"] == \
        "+78123334455"


async def test_caller_hangup_mid_answer_is_survived_and_logged(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550101", hangup_after=1)
    assert len(res.commands) == 1
    ok = await call(r.agi.port, "+79035550101", uid=2)
    assert ok.variables["ROUTE_COUNT"] == "1"
    assert len(await r.router.log.newest(10)) == 2


async def test_unknown_script_is_closed_without_commands(serve):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550101", script="other?x=1")
    assert res.commands == []


async def test_script_path_ignores_the_query_string(serve):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550101", script="route?did=1001&src=pstn")
    assert res.variables["ROUTE_COUNT"] == "1"


async def _closed_by_server(port: int, payload: bytes, hold_open: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    try:
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


async def test_garbage_is_refused_and_the_server_keeps_routing(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    assert await _closed_by_server(r.agi.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\xff\xfe" * 10 + b"\n" * 8) \
        == b""
    assert await _closed_by_server(r.agi.port, b"\n") == b""
    assert await _closed_by_server(r.agi.port, b"agi_network: yes\n" + b"A" * 20000 + b"\n") == b""
    assert await _closed_by_server(r.agi.port, b"".join(b"agi_x%d: y\n" % i for i in range(300)) + b"\n") == b""
    assert (await call(r.agi.port, "+79035550101")).chain()[0][1] == "PJSIP/101"


async def test_stalled_header_is_dropped_after_the_header_timeout(serve, monkeypatch):
    monkeypatch.setattr(agi, "HEADER_TIMEOUT", 0.2)
    r = await serve(RULES, Clock(MONDAY_10))
    reader, writer = await asyncio.open_connection("127.0.0.1", r.agi.port)
    writer.write(b"agi_network: yes\nagi_network_script: route\n")
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    writer.close()
    assert r.agi.active == 0


class ServerReads:
    """Counts the server's wake-ups on its connections: the selector calling a session back, and each
    recv() a session makes. `parked` holds the connections that have read some bytes and whose last
    recv() then found nothing: their sessions wait for the selector."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.n = 0
        self.parked: set[agi.AGISocket] = set()
        recv, readable = agi.AGISocket._recv, agi.AGISocket._readable

        def counting_recv(conn: agi.AGISocket) -> bool:
            self.n += 1
            came = recv(conn)
            if came or not conn.buffer:
                self.parked.discard(conn)
            else:
                self.parked.add(conn)
            return came

        def counting_readable(conn: agi.AGISocket) -> None:
            self.n += 1
            readable(conn)

        monkeypatch.setattr(agi.AGISocket, "_recv", counting_recv)
        monkeypatch.setattr(agi.AGISocket, "_readable", counting_readable)


async def test_disconnect_mid_header_leaves_the_server_idle(serve, customers, monkeypatch):
    for timeout in ("IDLE_TIMEOUT", "HEADER_TIMEOUT"):  # however slow the machine, the stalled peers stay connected
        monkeypatch.setattr(agi, timeout, 60.0)
    r = await serve(RULES, Clock(MONDAY_10))
    reads = ServerReads(monkeypatch)
    for cut in (b"agi_network: yes\nagi_netw", b"agi_network: yes\n", b"agi_"):
        _, writer = await asyncio.open_connection("127.0.0.1", r.agi.port)
        writer.write(cut)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    await wait_for(lambda: r.agi.flood.totals[agi.BAD_HEADER] == 3 and r.agi.active == 0)
    reads.parked.clear()
    stalled = [await asyncio.open_connection("127.0.0.1", r.agi.port) for _ in range(20)]
    for _, w in stalled:
        w.write(b"agi_network: yes\n")
    await wait_for(lambda: len(reads.parked) == 20)  # each has read its first line and waits for more
    # a spinning reader would be woken on every turn of the event loop; a parked one not once while peers are silent
    before = reads.n
    for _ in range(100):
        await asyncio.sleep(0)
    assert reads.n == before, f"{reads.n - before} wake-ups in 100 turns of the event loop with every peer silent"
    assert (await call(r.agi.port, "+79035550101")).chain()[0][1] == "PJSIP/101"
    for _, w in stalled:
        w.close()


async def test_store_down_gives_fallback_quickly(serve):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    dead = open_store(f"redis://127.0.0.1:{dead_port}/0", "x")
    r = await serve(RULES, Clock(MONDAY_10), the_store=dead)
    res = await call(r.agi.port, "+79035550101")
    assert (res.variables["ROUTE_RULE"], res.chain()) == ("fallback", [("queue", "support", "120")])
    assert res.seconds < 2
    await dead.close()


async def test_stalled_store_gives_fallback_within_the_budget(serve):
    async def blackhole(reader, writer):
        await reader.read()  # accepts, never answers

    hole = await asyncio.start_server(blackhole, "127.0.0.1", 0)
    port = hole.sockets[0].getsockname()[1]
    slow = open_store(f"redis://127.0.0.1:{port}/0", "x", timeout=10)
    r = await serve(RULES, Clock(MONDAY_10), the_store=slow, budget=0.3)
    res = await call(r.agi.port, "+79035550101")
    assert res.variables["ROUTE_RULE"] == "fallback" and res.seconds < 2
    entry = (await r.router.log.newest(1))[0]
    assert entry["fallback"] and "store unavailable" in entry["reasons"][0]
    await slow.close()
    hole.close()


async def test_history_of_a_fallback_call_is_written_once_the_store_is_back(serve, store, prefix):
    clock = Clock(MONDAY_10)
    r = await serve(RULES, clock, budget=0.3)
    dead = open_store("redis://127.0.0.1:1/0", prefix)
    r.router.store = dead
    r.router.log.store = dead
    await call(r.agi.port, "+79161234500")
    assert r.router.log.pending
    r.router.store = store
    r.router.log.store = store
    await r.router.log.flush()
    clock.advance(60)
    assert (await call(r.agi.port, "+79161234500", uid=2)).variables["ROUTE_CALLER_KIND"] == "repeat"
    await dead.close()


async def test_line_breaks_in_the_caller_name_cannot_forge_header_keys(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    forged = "Olga\nagi_callerid: +79035550101\nagi_dnid: 88006008208\nsecond line"
    res = await call(r.agi.port, "+79161234599", forged, dnid="74951234567")
    assert res.variables["ROUTE_CALLER_KIND"] == "new"  # not Olga's A-customer number
    entry = (await r.router.log.newest(1))[0]
    assert entry["call"]["callerid"] == "+79161234599" and entry["call"]["dnid"] == "74951234567"
    assert entry["call"]["name"] == "Olga"


async def test_a_line_break_in_the_caller_name_is_kept(serve, customers):
    r = await serve(RULES, Clock(MONDAY_10))
    await call(r.agi.port, "+79161234598", "OOO Romashka\nsales dept., room 5")
    assert (await r.router.log.newest(1))[0]["call"]["name"] == "OOO Romashka\nsales dept., room 5"
