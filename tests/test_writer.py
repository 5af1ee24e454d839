"""Background writing keeps what the store refuses and writes it once the store is back."""

from __future__ import annotations

import asyncio
import logging

from router.state.decisionlog import DecisionLog
from router.state.factory import open_store


async def test_decision_log_keeps_entries_while_the_store_is_down_and_writes_them_after(store, caplog):
    dead = open_store("redis://127.0.0.1:1/0", store.k.prefix)
    log = DecisionLog(dead)
    log.start()
    try:
        log.add({"id": "d1", "at": 1.0, "rule": "r", "steps": [], "fallback": False})
        async with asyncio.timeout(10):
            while "store refused 1 pending" not in caplog.text:
                await asyncio.sleep(0.01)
        assert len(log.pending) == 1
        log.store = store
        async with asyncio.timeout(10):
            while log.pending:
                await asyncio.sleep(0.01)
        assert [e["id"] for e in await store.recent_decisions(5)] == ["d1"]
    finally:
        await log.stop()
        await dead.close()


async def test_decisions_past_the_pending_bound_are_dropped_with_one_error_line_not_one_each(caplog):
    caplog.set_level(logging.ERROR, "router.decisions")
    log = DecisionLog(store=None, max_pending=3)  # type: ignore[arg-type]  # never written: the store is away
    for i in range(10):
        log.add({"id": f"d{i}"})
    assert [e["id"] for e in log.pending] == ["d7", "d8", "d9"] and log.dropped == 7
    lines = [r.message for r in caplog.records]
    assert len(lines) == 1 and "1 decisions dropped (last: 3 wait for the store; the oldest, d0, is gone" in lines[0]
    log.flood.flush()
    assert "6 decisions dropped (last: 3 wait for the store; the oldest, d6, is gone" in caplog.records[-1].message
