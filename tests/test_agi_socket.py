"""A FastAGI connection read and written with socket calls: over real socket pairs, whatever the
peer's chunking, size of answer, or way of leaving."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from router.asterisk.agi import MAX_HEADER_BYTES, AGISession, AGISocket, BadRequest, FastAGIServer, read_env
from router.asterisk.callsim import call, headers


@pytest.fixture
async def pair():
    """(our AGISocket, the peer's plain non-blocking socket)."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    conn = AGISocket(asyncio.get_running_loop(), ours)
    yield conn, theirs
    conn.close()
    theirs.close()


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
