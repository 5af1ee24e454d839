"""Store addresses: one Redis, TLS, Sentinel, Cluster; clear errors for everything else."""

from __future__ import annotations

import subprocess

import pytest

from router.state.address import AddressError, parse
from tests.helpers import ROUTER_CMD, RULES_DIR, router_env


def test_plain_redis_with_database_and_password():
    a = parse("redis://:s%40cret@10.0.0.5:6380/2", environ={})
    assert (a.kind, a.nodes, a.db, a.password, a.tls) == ("single", (("10.0.0.5", 6380),), 2, "s@cret", False)
    assert str(a) == "redis://10.0.0.5:6380/2"


def test_password_from_the_environment_when_the_url_has_none():
    assert parse("redis://h:6379", environ={"ROUTER_STORE_PASSWORD": "pw"}).password == "pw"


def test_sentinel_nodes_master_and_database():
    a = parse("redis+sentinel://user:pw@s1:26379,s2:26379,[::1]:26380/mymaster/3", environ={})
    assert a.kind == "sentinel" and a.master == "mymaster" and a.db == 3
    assert a.nodes == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    assert (a.username, a.password) == ("user", "pw")
    assert "pw" not in str(a)


def test_cluster_seed_nodes():
    a = parse("redis+cluster://n1:7000,n2:7001", environ={})
    assert (a.kind, a.nodes, a.db) == ("cluster", (("n1", 7000), ("n2", 7001)), 0)


def test_tls_files_from_the_query_or_the_environment(tmp_path):
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "c.pem", "c.key"))
    for f in (ca, cert, key):
        f.write_text("x")
    a = parse(f"rediss://h:6380/0?ca={ca}", environ={"ROUTER_STORE_CERT": str(cert), "ROUTER_STORE_KEY": str(key)})
    assert (a.tls, a.ca, a.cert, a.key) == (True, str(ca), str(cert), str(key))
    assert parse("rediss+cluster://h:7000", environ={}).tls


@pytest.mark.parametrize("url,says", [
    ("http://h:6379", "unknown scheme 'http'"),
    ("redis://h", "'h' is not HOST:PORT"),
    ("redis://a:1,b:2/0", "several hosts need redis+sentinel"),
    ("redis+sentinel://s1:26379", "name the Sentinel master"),
    ("redis+cluster://n1:7000/1", "only database 0"),
    ("redis://h:6379/zero", "the database is a number"),
    ("redis://h:6379/0?tls=1", "unknown option(s) tls"),
    ("redis://h:6379/0?ca=/etc/hosts", "use rediss://"),
    ("rediss://h:6379/0?ca=/nonexistent.pem", "does not exist"),
    ("redis://:hunter2@h:99999/0", "is not HOST:PORT"),
])
def test_bad_addresses_say_what_is_wrong(url, says):
    with pytest.raises(AddressError) as e:
        parse(url, environ={})
    assert says in str(e.value)
    assert "hunter2" not in str(e.value)


@pytest.mark.slow
def test_serve_refuses_a_bad_store_address_before_starting():
    p = subprocess.run([*ROUTER_CMD, "serve", "--rules", str(RULES_DIR), "--store", "redis+sentinel://s:1"],
                       env=router_env(), capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "name the Sentinel master" in p.stderr
