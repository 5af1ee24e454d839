"""Outcomes that end together are written together: two round trips a batch, each call once, in order per number."""

from __future__ import annotations

import pytest

from router.asterisk.ami import AMITarget, Listener
from router.core.outcome import Outcome
from router.state.factory import open_store
from router.state.store import Store
from tests.helpers import MONDAY, MONDAY_9, MSK

CUSTOMERS = [f"+7903555{i:04d}" for i in range(12)]


def outcome(number: str, n: int, **kw) -> Outcome:
    base = {"linkedid": f"b.{n}", "direction": "inbound", "number": number, "result": "answered",
            "by": "PJSIP/101", "queue": "support", "decision": "", "ring_seconds": 4.0, "talk_seconds": 60.0,
            "ended_at": MONDAY_9 + 64 + n, "reason": ""}
    return Outcome.from_record(base | kw)


def day_of_calls() -> list[Outcome]:
    """Missed, answered and callback outcomes of twelve numbers."""
    out = []
    for i, number in enumerate(CUSTOMERS):
        if i % 3 == 0:
            out.append(outcome(number, i, result="missed", by="", queue="", talk_seconds=0.0))
        elif i % 3 == 1:
            out.append(outcome(number, i, direction="outbound", queue=""))
        else:
            out.append(outcome(number, i, by=f"PJSIP/1{i:02d}"))
    return out


def counting(store: Store) -> list[int]:
    """Round trips of the store's background batches: each call of `pooled_raw` is one."""
    sizes: list[int] = []
    pooled = store.pooled_raw

    async def counted(commands):
        sizes.append(len(commands))
        return await pooled(commands)

    store.pooled_raw = counted  # type: ignore[method-assign]
    return sizes


@pytest.fixture
async def other_store(redis_url, prefix):
    s = open_store(redis_url, prefix + "x")
    yield s
    await s.close()


@pytest.fixture
def calendar(store, other_store):
    from router.reports.tally import Calendar

    for s in (store, other_store):
        s.calendar = Calendar(MSK)


async def test_outcomes_that_end_together_are_written_in_two_round_trips(store, calendar):
    sizes = counting(store)
    assert await store.record_outcomes(day_of_calls()) == [True] * len(CUSTOMERS)
    assert len(sizes) == 2 and sizes[0] == 3 * len(CUSTOMERS)
    assert (await store.report_counters([MONDAY]))[0]["in"] == "8"


async def test_a_batch_writes_what_writing_one_at_a_time_writes(store, other_store, calendar):
    assert await store.record_outcomes(day_of_calls()) == [True] * len(CUSTOMERS)
    for o in day_of_calls():
        assert await other_store.record_outcome(o)
    assert (await store.report_counters([MONDAY]))[0] == (await other_store.report_counters([MONDAY]))[0]
    for number in CUSTOMERS:
        assert await store.number_state(number) == await other_store.number_state(number)
    assert await store.r.xlen(store.k.outcomes) == await other_store.r.xlen(other_store.k.outcomes) == 12


async def test_an_outcome_another_router_wrote_is_skipped_and_the_rest_of_the_batch_written(store, calendar):
    calls = day_of_calls()
    assert await store.record_outcome(Outcome.from_record(calls[4].record()))  # the other router, first
    assert await store.record_outcomes(calls) == [i != 4 for i in range(len(calls))]
    assert await store.r.xlen(store.k.outcomes) == 12
    assert await store.record_outcomes(day_of_calls()) == [False] * 12


async def test_a_batch_whose_writes_fail_releases_every_claim_and_a_retry_writes_it_all(store, calendar):
    pooled = store.pooled_raw
    turns = 0

    async def second_round_trip_fails(commands):
        nonlocal turns
        turns += 1
        if turns == 2:
            raise ConnectionError("Redis went away")
        return await pooled(commands)

    store.pooled_raw = second_round_trip_fails  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await store.record_outcomes(day_of_calls())
    assert await store.r.xlen(store.k.outcomes) == 0
    assert await store.record_outcomes(day_of_calls()) == [True] * 12
    assert (await store.report_counters([MONDAY]))[0]["in"] == "8"


async def test_the_listener_batches_outcomes_but_writes_a_numbers_calls_in_order(store, other_store, calendar):
    """A miss, then our callback to the same number: the callback counts against the miss only
    when it is written after it, so one number's calls never share a batch."""
    number = CUSTOMERS[0]
    missed = Outcome.timed("m.1", "inbound", number, False, MONDAY_9, None, MONDAY_9 + 10, reason="caller hung up")
    callback = Outcome.timed("m.2", "outbound", number, True, MONDAY_9 + 600, MONDAY_9 + 610, MONDAY_9 + 700,
                             by="PJSIP/101")
    others = [Outcome.timed(f"o.{i}", "inbound", n, True, MONDAY_9, MONDAY_9 + 3, MONDAY_9 + 60, by="PJSIP/102")
              for i, n in enumerate(CUSTOMERS[1:6])]
    seen: list[Outcome] = []
    listener = Listener(AMITarget("127.0.0.1", 1, "u", "s"), store, on_outcome=seen.append)
    sizes = counting(store)
    listener.pending.extend(("outcome", o) for o in [missed, *others[:3], callback, *others[3:]])
    await listener.flush()
    assert sizes == [3 * 4, sizes[1], 3 * 3, sizes[3]], "a batch ends where the number comes again"
    assert [o.linkedid for o in seen] == ["m.1", "o.0", "o.1", "o.2", "m.2", "o.3", "o.4"]
    for o in [missed, callback]:
        assert await other_store.record_outcome(Outcome.from_record(o.record()))
    mine, theirs = (await store.report_counters([MONDAY]))[0], (await other_store.report_counters([MONDAY]))[0]
    assert (mine["cb"], mine["cb|ok"]) == (theirs["cb"], theirs["cb|ok"]) == ("1", "1")
