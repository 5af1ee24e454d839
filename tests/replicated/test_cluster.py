"""Redis Cluster: every command the router sends is valid there, and a master's death is survived."""

from __future__ import annotations

import pytest

from router.state.store import Store
from tests.asterisk.ami_server import AMIServer
from tests.replicated.stream import SECRET, check_nothing_lost_or_doubled, fail_over_during_calls, routed

FAILOVER_WINDOW_LIMIT = 8.0
"""Seconds of fallback answers allowed: the node timeout (1 s), the replica's election, the slot map refresh."""


@pytest.fixture
async def ami():
    server = AMIServer(secret=SECRET)
    await server.start()
    yield server
    await server.close()


async def test_a_call_goes_to_the_callers_node_and_to_the_nodes_of_the_global_keys_only(cluster, prefix):
    store = Store.from_url(cluster.url, prefix)
    try:
        number = "+79035550101"
        await store.put_customers([(number, {"name": "Ivan", "abc": "A"})])
        k = store.k
        home = cluster.master_of(k.customer(number))
        assert {cluster.master_of(key) for key in (k.state(number), k.inbound(number), k.risk(number))} == {home}
        shared = {cluster.master_of(key).port for key in (k.busy, k.strategy, k.numbering, k.company_ranges)}
        masters = [n for n in cluster.live() if n.client().execute_command("ROLE")[0] == "master"]
        before = {n.port: int(n.client().info("stats")["total_commands_processed"]) for n in masters}
        snap = await store.snapshot(number, 79035550101, 1_800_000_000.0, 3600.0, record_inbound="c1")
        after = {n.port: int(n.client().info("stats")["total_commands_processed"]) for n in masters}
        touched = {port for port in after if after[port] - before[port] > 1}  # the INFO itself counts one
        assert snap.customer["name"] == "Ivan"
        assert home.port in touched and touched <= {home.port} | shared
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
