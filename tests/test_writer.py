"""Background writing keeps what the store refuses and writes it once the store is back."""

from __future__ import annotations

import asyncio

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
