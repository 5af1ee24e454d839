"""Store addresses: one Redis, Redis behind Sentinel, or a Redis Cluster, with or without TLS.

    redis://[USER:PASSWORD@]HOST:PORT[/DB]
    rediss://…?ca=CA.pem&cert=CLIENT.pem&key=CLIENT.key           (TLS)
    redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]
    redis+cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT…]
    (rediss+sentinel:// and rediss+cluster:// speak TLS to every node)

The password may come from ROUTER_STORE_PASSWORD instead of the URL; the TLS files from
ROUTER_STORE_CA, ROUTER_STORE_CERT and ROUTER_STORE_KEY.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from router.state.shared import READ_CHUNK

SCHEMES = {"redis": ("single", False), "rediss": ("single", True),
           "redis+sentinel": ("sentinel", False), "rediss+sentinel": ("sentinel", True),
           "redis+cluster": ("cluster", False), "rediss+cluster": ("cluster", True)}
TLS_OPTIONS = {"ca": "ROUTER_STORE_CA", "cert": "ROUTER_STORE_CERT", "key": "ROUTER_STORE_KEY"}
EXAMPLES = ("redis://127.0.0.1:6379/0, rediss://HOST:6380/0?ca=/etc/ssl/redis-ca.pem, "
            "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster/0, "
            "redis+cluster://10.0.0.1:7000,10.0.0.2:7000")


class AddressError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class StoreAddress:
    kind: str  # single | sentinel | cluster
    nodes: tuple[tuple[str, int], ...]
    db: int = 0
    master: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        """The address without its password, for logs."""
        scheme = next(s for s, v in SCHEMES.items() if v == (self.kind, self.tls))
        hosts = ",".join(f"{h}:{p}" for h, p in self.nodes)
        path = f"/{self.master}/{self.db}" if self.kind == "sentinel" else "" if self.kind == "cluster" \
            else f"/{self.db}"
        return f"{scheme}://{hosts}{path}"


def parse(url: str, environ: Mapping[str, str] | None = None) -> StoreAddress:
    """A store URL as a StoreAddress; AddressError says what is wrong and shows the forms."""
    env = os.environ if environ is None else environ
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise AddressError(f"store address {_hide(url)!r}: unknown scheme {scheme!r}; write one of {EXAMPLES}")
    kind, tls = SCHEMES[scheme.lower()]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    password = password or env.get("ROUTER_STORE_PASSWORD") or None
    nodes = tuple(_node(h, url) for h in hosts.split(",")) if hosts else ()
    if not nodes:
        raise AddressError(f"store address {_hide(url)!r}: no HOST:PORT")
    if kind == "single" and len(nodes) > 1:
        raise AddressError(f"store address {_hide(url)!r}: several hosts need redis+sentinel:// or redis+cluster://")
    parts = [p for p in path.split("/") if p]
    master = ""
    if kind == "sentinel":
        if not parts:
            raise AddressError(f"store address {_hide(url)!r}: name the Sentinel master, "
                               "like redis+sentinel://HOST:26379/mymaster/0")
        master = unquote(parts.pop(0))
    if kind == "cluster" and parts:
        raise AddressError(f"store address {_hide(url)!r}: a Redis Cluster has only database 0; drop {path!r}")
    if len(parts) > 1 or (parts and not parts[0].isdigit()):
        raise AddressError(f"store address {_hide(url)!r}: the database is a number, like /0")
    options = dict(parse_qsl(query))
    unknown = set(options) - set(TLS_OPTIONS)
    if unknown:
        raise AddressError(f"store address {_hide(url)!r}: unknown option(s) {', '.join(sorted(unknown))}; "
                           f"known: {', '.join(TLS_OPTIONS)}")
    files = {name: options.get(name) or env.get(var) or None for name, var in TLS_OPTIONS.items()}
    if any(files.values()) and not tls:
        raise AddressError(f"store address {_hide(url)!r}: TLS files given but the scheme is {scheme}://; "
                           f"use {scheme.replace('redis', 'rediss', 1)}://")
    for name, f in files.items():
        if f and not Path(f).is_file():
            raise AddressError(f"store address: TLS {name} file {f!r} does not exist")
    if bool(files["cert"]) != bool(files["key"]):
        raise AddressError("store address: a client certificate needs both cert and key")
    return StoreAddress(kind, nodes, int(parts[0]) if parts else 0, master, username, password, tls,
                        files["ca"], files["cert"], files["key"])


Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass
class Connected:
    """A client for the address, how to close everything it opened, and (one Redis, Sentinel) how
    to open a raw connection to the current master with the commands that set it up."""

    client: aioredis.Redis | RedisCluster
    cluster: bool
    close: Callable[[], Awaitable[None]]
    opener: Opener | None = None
    setup: list[tuple] = field(default_factory=list)


def connect(addr: StoreAddress, timeout: float = 1.0) -> Connected:
    """A client for `addr` (no connection is made until the first command)."""
    common: dict = {"decode_responses": True, "socket_connect_timeout": timeout, "socket_timeout": timeout,
                    "username": addr.username, "password": addr.password}
    if addr.tls:
        common.update(ssl=True, ssl_ca_certs=addr.ca, ssl_certfile=addr.cert, ssl_keyfile=addr.key)
    if addr.kind == "cluster":
        cluster = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in addr.nodes], **common)
        return Connected(cluster, True, cluster.aclose)
    setup: list[tuple] = []
    if addr.password:
        setup.append(("AUTH", addr.username, addr.password) if addr.username else ("AUTH", addr.password))
    if addr.db:
        setup.append(("SELECT", addr.db))
    tls = tls_context(addr) if addr.tls else None
    if addr.kind == "sentinel":
        sentinel_tls = {k: v for k, v in common.items() if k.startswith("ssl")}
        sentinel = Sentinel(list(addr.nodes), sentinel_kwargs={"socket_connect_timeout": timeout,
                                                               "socket_timeout": timeout, **sentinel_tls})
        client = sentinel.master_for(addr.master, db=addr.db, health_check_interval=30, **common)

        async def close() -> None:
            await client.aclose()
            await sentinel.aclose()

        async def to_master():
            """Whichever server the sentinels name master now: after a failover, the promoted replica."""
            host, port = await sentinel.discover_master(addr.master)
            return await asyncio.wait_for(asyncio.open_connection(host, port, ssl=tls, limit=READ_CHUNK), timeout)
        return Connected(client, False, close, to_master, setup)
    (host, port), = addr.nodes
    client = aioredis.Redis(host=host, port=port, db=addr.db, health_check_interval=30, **common)

    def to_server():
        return asyncio.wait_for(asyncio.open_connection(host, port, ssl=tls, limit=READ_CHUNK), timeout)
    return Connected(client, False, client.aclose, to_server, setup)


def tls_context(addr: StoreAddress) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=addr.ca)
    if addr.cert:
        ctx.load_cert_chain(addr.cert, addr.key)
    return ctx


def _node(text: str, url: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(f"store address {_hide(url)!r}: {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _hide(url: str) -> str:
    """The URL with any password replaced, for error messages."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    return f"{scheme}{sep}{userinfo}{at}{hosts}{slash}{tail}"
