"""The rounds a router runs every few seconds off the calls' path (router/periodic.py): an expected error is
reported and the next round comes; stopping ends the loop even when a round turns its cancellation into the
store's TimeoutError, and `stop` returns only once nothing runs."""

from __future__ import annotations

import asyncio

from router.periodic import Periodic
from router.state.errors import STORE_ERRORS


async def test_a_failed_round_is_reported_and_the_next_round_comes():
    rounds: list[int] = []
    errors: list[Exception] = []
    third = asyncio.Event()

    async def one_round() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionError("store away")
        if len(rounds) == 3:
            third.set()

    periodic = Periodic("test", 0, one_round, STORE_ERRORS, errors.append, at_start=True)
    periodic.start()
    async with asyncio.timeout(5):
        await third.wait()
    await periodic.stop()
    assert [str(e) for e in errors] == ["store away"]
    assert len(rounds) >= 3


async def test_the_first_round_waits_its_interval_unless_asked_to_run_at_start():
    ran: list[str] = []
    later = Periodic("later", 3600, lambda: asyncio.sleep(0, ran.append("later")), (), ran.append)
    at_once = Periodic("at once", 3600, lambda: asyncio.sleep(0, ran.append("at once")), (), ran.append,
                       at_start=True)
    later.start()
    at_once.start()
    for _ in range(5):
        await asyncio.sleep(0)
    await later.stop()
    await at_once.stop()
    assert ran == ["at once"]


async def test_stop_ends_the_loop_even_when_a_store_call_turns_its_cancellation_into_a_timeout():
    entered = asyncio.Event()
    errors: list[Exception] = []

    async def store_read_cut_short() -> None:  # a redis read whose own timeout swallows the task's cancellation
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise TimeoutError("read timed out") from None

    periodic = Periodic("test", 0, store_read_cut_short, STORE_ERRORS, errors.append, at_start=True)
    periodic.start()
    task = periodic._task
    await entered.wait()
    async with asyncio.timeout(5):
        await periodic.stop()
    assert task is not None and task.done()
    assert errors == [], "a stopping loop does not report the error its own cancellation caused"
