"""A master behind Sentinel dies while calls come in: the replica takes over, nothing is lost."""

from __future__ import annotations

from tests.replicated.stream import check_nothing_lost_or_doubled, fail_over_during_calls, routed

FAILOVER_WINDOW_LIMIT = 6.0
"""Seconds of fallback answers allowed: 1 s for the sentinels to see the master down, then the election."""


async def test_killed_master_is_replaced_and_every_call_answered_nothing_lost(sentinel_group, prefix, ami):
    running = await routed(sentinel_group.url, prefix, ami)
    try:
        old = sentinel_group.current_master()
        measured = await fail_over_during_calls(running, ami, old.kill)
        assert sentinel_group.current_master() is not old
        print(f"\nSentinel failover: {len(measured['calls'])} calls, {len(measured['fallbacks'])} by the fallback "
              f"chain, within {measured['window']:.2f} s of the kill")
        assert measured["window"] < FAILOVER_WINDOW_LIMIT
        await check_nothing_lost_or_doubled(running.router.store, measured)
    finally:
        await running.stop()
        await running.router.store.close()
