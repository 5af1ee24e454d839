"""A store that keeps nothing on disk is named at start, with the line that fixes it; one that persists is not."""

from __future__ import annotations

WARNING = "keeps nothing on disk"


def test_a_store_without_persistence_is_warned_about_at_start(redis_server, router_process):
    r = router_process(store=redis_server.url)
    log = r.wait_for_log(WARNING)
    assert "Add `appendonly yes` to its redis.conf" in log and f"127.0.0.1:{redis_server.port}" in log


def test_a_store_that_saves_snapshots_is_not_warned_about(redis_factory, router_process):
    persisting = redis_factory(persist=True)
    r = router_process(store=persisting.url)
    r.wait_for_log("routing on agi://")
    assert WARNING not in r.log()
