"""Opening the store at an address: one Redis, Sentinel, Cluster, with or without TLS.

The one place that knows both store classes: a Cluster address gets `ClusterStore` (calls
read the shared keys from memory), anything else `Store` over pipelined shared connections.
"""

from __future__ import annotations

from redis.asyncio.cluster import RedisCluster

from router.state.address import connect
from router.state.address import parse as parse_address
from router.state.cluster import ClusterStore
from router.state.keys import Keys
from router.state.shared import SharedConnections
from router.state.store import Store


def open_store(url: str, prefix: str = "cr", timeout: float = 1.0) -> Store:
    """Any address `router.state.address` reads (AddressError, a ValueError, for one it cannot):
    one Redis, Sentinel (calls follow the master), Cluster, with or without TLS."""
    addr = parse_address(url)
    conn = connect(addr, timeout)
    store: Store
    if isinstance(conn.client, RedisCluster):
        store = ClusterStore(conn.client, Keys(prefix))
    else:
        assert conn.opener is not None, "a single-node or Sentinel connection always knows how to open one"
        store = Store(conn.client, Keys(prefix), SharedConnections(conn.opener, conn.setup))
        store.background = SharedConnections(conn.opener, conn.setup, size=1)
    store.address = addr
    store.closer = conn.close
    return store
