"""A FastAGI connection read and written with socket calls: over real socket pairs, whatever the
peer's chunking, size of answer, or way of leaving."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from router.asterisk.agi import MAX_HEADER_BYTES, AGISession, BadRequest, FastAGIServer, read_env
from router.asterisk.callsim import call, headers


def header() -> bytes:
    return headers("route", 7, "+79161234567", "Мария", "88006008208", "s")


async def test_a_header_already_in_is_read_without_watching_the_socket(pair, monkeypatch):
    conn, peer = pair
    loop = asyncio.get_running_loop()
    watched = []
    add_reader = loop.add_reader
    monkeypatch.setattr(loop, "add_reader", lambda fd, *a: (watched.append(fd), add_reader(fd, *a)))
    peer.sendall(header())
    env = await read_env(conn)
    assert env["agi_callerid"] == "+79161234567" and env["agi_calleridname"] == "Мария"
    assert watched == []


async def test_a_header_sent_a_byte_at_a_time_is_read_whole(pair):
    conn, peer = pair
    loop = asyncio.get_running_loop()
    first_lines = []

    async def dribble() -> None:
        for i in range(len(block := header())):
            await loop.sock_sendall(peer, block[i:i + 1])
            await asyncio.sleep(0)

    sending = asyncio.create_task(dribble())
    env = await read_env(conn, lambda: first_lines.append(True))
    await sending
    assert env["agi_network_script"] == "route" and env["agi_callerid"] == "+79161234567"
    assert first_lines == [True]  # the deadline moves once, when the first line is in


async def test_what_follows_the_header_is_kept_for_the_first_reply(pair):
    conn, peer = pair
    peer.sendall(header() + b"200 result=1\n")
    await read_env(conn)
    assert await conn.readline() == b"200 result=1\n"


async def test_a_header_block_that_never_ends_is_refused_at_the_limit(pair):
    conn, peer = pair
    loop = asyncio.get_running_loop()
    sending = asyncio.create_task(loop.sock_sendall(peer, b"agi_x: " + b"y" * (MAX_HEADER_BYTES * 4)))
    with pytest.raises(BadRequest, match="longer than"):
        await read_env(conn)
    sending.cancel()


async def test_an_answer_larger_than_the_socket_buffers_arrives_whole_before_the_end(pair):
    conn, peer = pair
    loop = asyncio.get_running_loop()
    answer = bytes(range(256)) * 16384  # 4 MiB: far past what the kernel takes at once
    conn.write(answer)
    assert conn.unsent, "the socket took it all: the test no longer covers a partial send"
    conn.write_eof()
    received = bytearray()

    async def read_all() -> None:
        while chunk := await loop.sock_recv(peer, 65536):
            received.extend(chunk)

    reading = asyncio.create_task(read_all())
    await conn.drain()
    await asyncio.wait_for(reading, 10)
    assert bytes(received) == answer  # every byte, in order, then the end


async def test_closing_while_a_read_waits_ends_the_read(pair):
    conn, _ = pair
    reading = asyncio.create_task(conn.readline())
    await asyncio.sleep(0)
    assert conn.watching
    conn.close()
    assert await asyncio.wait_for(reading, 1) == b""
    assert not conn.watching


async def test_a_reset_reads_as_the_end_not_an_error(pair):
    conn, peer = pair
    peer.sendall(b"200 result=0")
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
    assert await conn.readline() == b"200 result=0"
    assert await conn.readline() == b""


async def test_writing_to_a_peer_that_left_is_silent_and_the_next_read_ends(pair):
    conn, peer = pair
    peer.close()
    conn.write(b"EXEC MSet \"ROUTE_RULE=x\"\n")
    conn.write(b"EXEC MSet \"ROUTE_RULE=y\"\n")  # EPIPE by now
    assert await conn.readline() == b""


async def test_an_empty_host_listens_on_every_interface_on_one_port():
    async def route(session: AGISession) -> None:
        session.end_with('EXEC MSet "ROUTE_RULE=everyone"')

    server = FastAGIServer({"route": route}, host="", port=0)
    await server.start()
    try:
        addresses = {sock.getsockname()[0] for sock in server._listeners}
        assert "0.0.0.0" in addresses and {sock.getsockname()[1] for sock in server._listeners} == {server.port}
        hosts = ["127.0.0.1"] + (["::1"] if "::" in addresses else [])
        for host in hosts:
            assert (await call(server.port, "+79161234567", host=host)).variables == {"ROUTE_RULE": "everyone"}
    finally:
        await server.close()
    assert server._listeners == []


async def test_a_header_block_over_the_limit_is_refused_even_when_its_end_comes_in_the_same_read(pair):
    conn, peer = pair
    peer.sendall(b"agi_a: " + b"x" * 15_000 + b"\nagi_b: " + b"y" * 40_000 + b"\n\n")  # one read takes it all
    with pytest.raises(BadRequest, match="header block over"):
        await read_env(conn)


async def test_a_reply_line_over_the_limit_is_refused_even_when_its_end_comes_in_the_same_read(pair):
    conn, peer = pair
    peer.sendall(b"200 result=1 (" + b"z" * 60_000 + b")\n")
    with pytest.raises(ValueError, match="line over"):
        await conn.readline()


async def test_the_last_command_of_a_finished_session_is_sent_whole_before_the_end(pair):
    conn, peer = pair
    loop = asyncio.get_running_loop()
    last = b"EXEC MSet \"" + b"v" * 4_000_000 + b"\"\n"
    conn.write(last)
    conn.write_eof()
    assert conn.unsent, "the socket took it all: the test no longer covers a partial send"
    conn.close_when_sent(10)
    received = bytearray()
    while chunk := await loop.sock_recv(peer, 65536):
        received.extend(chunk)
    assert bytes(received) == last
    assert conn.closed


async def test_a_finished_session_whose_peer_takes_nothing_is_closed_after_the_linger(pair):
    conn, _ = pair
    conn.write(b"x" * 4_000_000)
    assert conn.unsent
    conn.close_when_sent(0)
    assert not conn.closed  # waiting for the peer, for at most the linger
    for _ in range(3):
        await asyncio.sleep(0)  # the loop's next turns: the linger's timer is due
    assert conn.closed and conn.unsent == b""


async def test_an_address_family_the_host_lacks_is_skipped_not_fatal(monkeypatch):
    plain = socket.socket

    def no_ipv6(family=-1, *args, **kwargs):
        if family == socket.AF_INET6:
            raise OSError(97, "Address family not supported by protocol")
        return plain(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", no_ipv6)
    server = FastAGIServer({}, host="", port=0)
    await server.start()
    monkeypatch.undo()
    try:
        assert [sock.family for sock in server._listeners] == [socket.AF_INET]
    finally:
        await server.close()
