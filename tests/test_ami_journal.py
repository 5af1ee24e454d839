"""The AMI journal (router/asterisk/ami.py): every 100 ms a router writes down the calls it follows and the
outcomes it has not yet written, so that a router killed mid-call takes them up again. Only what outlives a
round reaches the store: a call that came and went between two rounds, and an outcome written before the next
round, cost the journal nothing; what did reach it is dropped once done, also when it is done while its own
round is being written."""

from __future__ import annotations

import asyncio

from router.asterisk.ami import Listener
from router.asterisk.amisim import recorded_events
from tests.asterisk import AMI_RECORDINGS
from tests.helpers import ami_target, wait_for

MISSED = recorded_events((AMI_RECORDINGS / "ami_b_inbound_missed_caller_hangup.txt").read_bytes())
LINKEDID = "1795337780.4"
NUMBER = "+79161112233"


async def journaling(ami, store, name: str = "router-1") -> tuple[Listener, list[dict]]:
    """A listener whose journal rounds the test runs itself (`write_journal`); every round's changes."""
    listener = Listener(ami_target(ami), store)
    listener.start()
    listener.journal_name = name  # after start: no rounds of its own
    await asyncio.wait_for(listener.synced.wait(), 10)
    rounds: list[dict] = []
    write = store.journal_write

    async def recorded(instance: str, changes: dict) -> None:
        rounds.append(dict(changes))
        await write(instance, changes)

    store.journal_write = recorded
    return listener, rounds


async def journal(store, name: str = "router-1") -> set[str]:
    return set(await store.journal_read(name))


async def test_a_call_that_ends_between_two_rounds_never_reaches_the_journal(ami, store):
    listener, rounds = await journaling(ami, store)
    try:
        await ami.push(MISSED)
        await wait_for(lambda: listener.received > 50 and not listener.tracker.calls)
        await listener.flush()
        await listener.write_journal()
        assert rounds == [], "nothing outlived a round: no write at all"
        assert (await store.number_state(NUMBER))["in_ok"] == "0", "the outcome itself was written"
    finally:
        await listener.stop()


async def test_a_call_followed_across_a_round_is_journaled_and_dropped_once_it_ended(ami, store):
    listener, rounds = await journaling(ami, store)
    cut = MISSED.index(b"Event: HangupRequest")
    try:
        await ami.push(MISSED[:cut])
        await wait_for(lambda: LINKEDID in listener.tracker.calls and listener.received > 40)
        await listener.write_journal()
        assert await journal(store) == {f"c:{LINKEDID}"}
        await ami.push(MISSED[cut:])
        await wait_for(lambda: not listener.tracker.calls)
        await listener.flush()
        await listener.write_journal()
        assert await journal(store) == set()
        assert all(not field.startswith("o:") for r in rounds for field in r), \
            "the outcome was written before the round: never journaled"
    finally:
        await listener.stop()


async def test_an_outcome_the_store_refused_stays_journaled_for_the_next_run(ami, store):
    listener, _ = await journaling(ami, store)

    async def refused(*args, **kwargs):
        raise ConnectionError("store away")

    store.record_outcomes = refused
    try:
        await ami.push(MISSED)
        await wait_for(lambda: listener.received > 50 and not listener.tracker.calls)
        await listener.write_journal()
        [field] = await journal(store)
        assert field.startswith("o:")
    finally:
        await listener.stop(0.1)
    del store.record_outcomes
    next_run = Listener(ami_target(ami), store)
    next_run.journal_name = "router-1"
    await next_run.restore()
    assert [(kind, o.number, o.result) for kind, o in next_run.pending] == [("outcome", NUMBER, "missed")]
    await next_run.flush()
    await next_run.write_journal()
    assert await journal(store) == set(), "written by the next run, then dropped from the journal"


async def test_an_outcome_written_while_its_round_is_on_the_way_is_dropped_by_the_next(ami, store):
    listener, _ = await journaling(ami, store)
    gate, entered = asyncio.Event(), asyncio.Event()
    write = store.journal_write

    async def slow(instance: str, changes: dict) -> None:
        entered.set()
        await gate.wait()
        await write(instance, changes)

    store.journal_write = slow
    refuse = True
    record_outcomes = store.record_outcomes

    async def refused_once(*args, **kwargs):
        if refuse:
            raise ConnectionError("store away")
        return await record_outcomes(*args, **kwargs)

    store.record_outcomes = refused_once
    try:
        await ami.push(MISSED)
        await wait_for(lambda: listener.received > 50 and not listener.tracker.calls)
        with_outcome = asyncio.create_task(listener.write_journal())
        await entered.wait()
        refuse = False
        await listener.flush()  # written now, while the round carrying it is still on its way
        gate.set()
        await with_outcome
        assert any(f.startswith("o:") for f in await journal(store))
        await listener.write_journal()
        assert await journal(store) == set()
    finally:
        await listener.stop()


async def test_a_router_that_stops_leaves_in_the_journal_only_what_it_could_not_write(ami, store):
    listener, _ = await journaling(ami, store)
    record_outcomes = store.record_outcomes

    async def refused(*args, **kwargs):
        raise ConnectionError("store away")

    store.record_outcomes = refused
    await ami.push(MISSED)
    await wait_for(lambda: listener.received > 50 and not listener.tracker.calls)
    await listener.write_journal()
    assert len(await journal(store)) == 1, "the outcome waits in the journal"
    store.record_outcomes = record_outcomes
    await listener.stop(3)
    assert (await store.number_state(NUMBER))["in_ok"] == "0", "written by the last flush"
    assert await journal(store) == set(), "so the next run does not take it up again"
