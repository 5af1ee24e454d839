"""Real redis-server processes on loopback for replication tests: a Sentinel group, a Redis Cluster.

Each server has its own directory and free port, can be killed (SIGKILL, as a crash) and
started again on the same port and directory, and is stopped when the test is done.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.helpers import free_port

NODE_TIMEOUT_MS = 1000
"""Sentinel's down-after-milliseconds and the cluster's node timeout: failover in ~2 s, not 30."""


def redis_server() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: `apt-get install redis-server` (see README, Quick start)")
    return exe


class Server:
    def __init__(self, root: Path, name: str, args: list[str], config: str = ""):
        self.port = free_port()
        self.dir = root / name
        self.dir.mkdir(parents=True)
        self.name = name
        self.conf = self.dir / "redis.conf"
        self.conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\nlogfile {self.dir / 'log'}\n"
                             f"save \"\"\nappendonly no\n{config}")
        self.args = args
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.proc = subprocess.Popen([redis_server(), str(self.conf), *self.args], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} did not start on {self.port}: see {self.dir / 'log'}") from None
                time.sleep(0.02)

    def kill(self) -> None:
        """A crash: no shutdown, no goodbye to clients or replicas."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=2)


def wait_until(predicate, seconds: float, what: str) -> None:
    """Poll a condition the servers reach by themselves (replication, gossip, elections)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {seconds} s: {what}")
        time.sleep(0.05)


class SentinelGroup:
    """A master, one replica and three sentinels watching them as `mymaster` (quorum 2)."""

    NAME = "mymaster"

    def __init__(self, root: Path):
        self.master = Server(root, "master", [])
        self.replica = Server(root, "replica", [], f"replicaof 127.0.0.1 {self.master.port}\n")
        self.sentinels = [Server(root, f"sentinel{i}", ["--sentinel"],
                                 f"sentinel monitor {self.NAME} 127.0.0.1 {self.master.port} 2\n"
                                 f"sentinel down-after-milliseconds {self.NAME} {NODE_TIMEOUT_MS}\n"
                                 f"sentinel failover-timeout {self.NAME} 10000\n")
                          for i in range(3)]

    @property
    def url(self) -> str:
        return f"redis+sentinel://{','.join(s.address for s in self.sentinels)}/{self.NAME}/0"

    def start(self) -> SentinelGroup:
        for s in (self.master, self.replica, *self.sentinels):
            s.start()
        wait_until(lambda: self.replica.client().info("replication")["master_link_status"] == "up", 10,
                   "replica in sync")
        # a failover needs sentinels that know each other (hello messages) and the replica
        wait_until(lambda: all(len(s.client().sentinel_sentinels(self.NAME)) == 2
                               and len(s.client().sentinel_slaves(self.NAME)) == 1 for s in self.sentinels), 20,
                   "sentinels know each other and the replica")
        return self

    def current_master(self) -> Server:
        _host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(self.NAME)
        return next(s for s in (self.master, self.replica) if s.port == int(port))

    def stop(self) -> None:
        for s in (*self.sentinels, self.replica, self.master):
            s.stop()


class Cluster:
    """Three masters, each with one replica (`redis-cli --cluster create --cluster-replicas 1`)."""

    def __init__(self, root: Path, masters: int = 3, replicas: int = 1):
        config = (f"cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout {NODE_TIMEOUT_MS}\n"
                  "cluster-replica-validity-factor 0\n")
        self.replicas = replicas
        # the bus port is set, not left at port + 10000: that one may be taken, or above 65535
        self.nodes = [Server(root, f"node{i}", [], f"{config}cluster-port {free_port()}\n")
                      for i in range(masters * (1 + replicas))]

    @property
    def url(self) -> str:
        return f"redis+cluster://{','.join(n.address for n in self.nodes[:3])}"

    def start(self) -> Cluster:
        for n in self.nodes:
            n.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail("redis-cli is not installed (it comes with redis-server: `apt-get install redis-server`)")
        subprocess.run([cli, "--cluster", "create", *(n.address for n in self.nodes), "--cluster-replicas",
                        str(self.replicas), "--cluster-yes"], check=True, capture_output=True, timeout=60)
        self.wait_healthy(30)
        # a replica that has not finished its first sync cannot take over with the data
        wait_until(lambda: sum(self._in_sync(n) for n in self.nodes) == len(self.nodes) * self.replicas
                   // (1 + self.replicas), 30, "every replica in sync with its master")
        return self

    @staticmethod
    def _in_sync(node: Server) -> bool:
        info = node.client().info("replication")
        return info["role"] == "slave" and info["master_link_status"] == "up"

    def wait_healthy(self, seconds: float) -> None:
        wait_until(self.healthy, seconds, "cluster state ok on every live node")

    def healthy(self) -> bool:
        return all(n.client().cluster("info")["cluster_state"] == "ok" for n in self.live())

    def live(self) -> list[Server]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def master_of(self, key: str) -> Server:
        """The node that serves `key`'s slot, as the live nodes see it."""
        c = self.live()[0].client()
        slot = c.cluster("keyslot", key)
        for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return next(n for n in self.nodes if n.port == int(master[1]))
        raise LookupError(f"no node serves slot {slot}")

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
