"""Redis Cluster: every command the router sends is valid there, and a master's death is survived."""

from __future__ import annotations

from router.core.phones import padded
from router.state.factory import open_store
from router.state.store import Store
from tests.replicated.stream import check_nothing_lost_or_doubled, fail_over_during_calls, routed

FAILOVER_WINDOW_LIMIT = 8.0
"""Seconds of fallback answers allowed: the node timeout (1 s), the replica's election, the slot map refresh."""


def data_commands(node) -> int:
    """Commands that read or write data, run on the node so far (replication's own are left out)."""
    stats = node.client().info("commandstats")
    return sum(v["calls"] for name, v in stats.items()
               if name.split("_", 1)[1] in ("hgetall", "hget", "smembers", "zrangebyscore", "zrevrangebyscore",
                                            "hset", "zadd", "zremrangebyscore", "get", "set"))


async def shared_keys_filled(store: Store, number: str) -> None:
    """A customer, a company range, a numbering range, a strategy, a busy device, a CRM answer: all a call reads."""
    await store.put_customers([(number, {"name": "Ivan", "abc": "A", "manager": "ivanov"})])
    await store.put_company("acme", {"name": "Acme", "abc": "A"}, [(padded("+79035550000"), padded("+79035559999"))])
    await store.replace_numbering([(79035550000, 79035559999, "Asia/Omsk", "test")])
    await store.set_strategy("retention", "test", 1.0)
    await store.set_device_state("PJSIP/101", "INUSE")
    await store.r.set(store.k.crm(number), '{"found": true, "fields": {"name": "Ivan"}}')
    await store.load_view()


async def test_a_call_reads_and_writes_on_the_callers_node_only(cluster, prefix):
    store = open_store(cluster.url, prefix)
    try:
        number = "+79035550101"
        await shared_keys_filled(store, number)
        home = cluster.master_of(store.k.customer(number))
        masters = [n for n in cluster.live() if n.client().execute_command("ROLE")[0] == "master"]
        before = {n.port: data_commands(n) for n in masters}
        snap = await store.snapshot(number, 79035550101, 1_800_000_000.0, 3600.0, record_inbound="c1")
        touched = {n.port for n in masters if data_commands(n) != before[n.port]}
        assert (snap.customer["name"], snap.numbering, snap.strategy) == ("Ivan", "Asia/Omsk", "retention")
        assert snap.busy == {"PJSIP/101"} and snap.company["id"] == "acme"
        assert touched == {home.port}
    finally:
        await store.close()


async def test_the_cluster_snapshot_is_what_reading_every_key_gives(cluster, prefix):
    store = open_store(cluster.url, prefix)
    try:
        for number in ("+79035550101", "+79035550202"):
            await shared_keys_filled(store, number)
            await store.snapshot(number, None, 1_800_000_000.0, 3600.0, record_inbound="c0")
            for score, crm in ((None, False), (int(number[1:]), True)):
                full = await Store.snapshot(store, number, score, 1_800_000_001.0, 3600.0, crm=crm)
                assert await store.snapshot(number, score, 1_800_000_001.0, 3600.0, crm=crm) == full
        assert await store.snapshot("", None, 0, 0) == await Store.snapshot(store, "", None, 0, 0)
    finally:
        await store.close()


async def test_killed_master_is_replaced_by_its_replica_and_nothing_is_lost(cluster, prefix, ami):
    running = await routed(cluster.url, prefix, ami)
    try:
        # the node that holds the decision log and the follow-ups: the hardest one to lose
        victim = cluster.master_of(running.router.store.k.decisions)
        measured = await fail_over_during_calls(running, ami, victim.kill, lambda: cluster.wait_healthy(30))
        print(f"\nCluster failover: {len(measured['calls'])} calls, {len(measured['fallbacks'])} by the fallback "
              f"chain, within {measured['window']:.2f} s of the kill")
        assert measured["window"] < FAILOVER_WINDOW_LIMIT
        await check_nothing_lost_or_doubled(running.router.store, measured)
    finally:
        await running.stop()
        await running.router.store.close()
