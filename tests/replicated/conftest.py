"""A Sentinel group and a Redis Cluster of real redis-server processes, one of each per test module."""

from __future__ import annotations

import pytest

from tests.replicated.servers import Cluster, SentinelGroup


@pytest.fixture(scope="module")
def sentinel_group(tmp_path_factory):
    group = SentinelGroup(tmp_path_factory.mktemp("sentinel"))
    try:
        yield group.start()
    finally:
        group.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c.start()
    finally:
        c.stop()
