"""Opening the store at an address: one Redis, Sentinel, Cluster, with or without TLS.

The one place that knows both store classes: a Cluster address gets `ClusterStore` (calls
read the shared keys from memory), anything else `Store` over pipelined shared connections.
"""

from __future__ import annotations

from router.state.store import Store


def open_store(url: str, prefix: str = "cr", timeout: float = 1.0) -> Store:
    """Any address `router.state.address` reads; AddressError (a ValueError) for one it cannot."""
    return Store.from_url(url, prefix, timeout)
