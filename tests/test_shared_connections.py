"""The calls' shared Redis connections against a peer that never answers: budgets and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from router.state.shared import SharedConnections


@pytest.fixture
async def silent():
    """A TCP peer that reads everything and answers nothing: a Redis that stalls."""
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connections = SharedConnections(lambda: asyncio.open_connection("127.0.0.1", port))
    yield connections
    await connections.close()
    server.close()


async def test_a_call_whose_budget_runs_out_gets_a_timeout(silent):
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError, match="no reply within 50 ms"):
        await silent.execute([("PING",)], budget=0.05)
    assert 0.05 <= loop.time() - started < 1.0


async def test_a_cancelled_call_is_cancelled_not_timed_out(silent):
    call = asyncio.create_task(silent.execute([("PING",)], budget=5.0))
    await asyncio.sleep(0)  # let it send and start waiting
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_calls_of_one_turn_of_the_loop_go_out_in_one_write(silent):
    for _ in range(2):  # both connections open (calls take them in turn)
        with pytest.raises(TimeoutError):
            await silent.execute([("PING",)], budget=0.01)
    writes: list[bytes] = []
    for link in silent.links:
        original = link.writer.write
        link.writer.write = lambda data, original=original: (writes.append(data), original(data))[1]
    calls = [asyncio.create_task(silent.execute([("ECHO", str(i))], budget=0.05)) for i in range(20)]
    await asyncio.gather(*calls, return_exceptions=True)
    assert len(writes) == 2, "one write per connection for the twenty calls"
    assert sum(w.count(b"ECHO") for w in writes) == 20
