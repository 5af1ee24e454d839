"""rediss://: a Redis that speaks only TLS and wants a client certificate, reached with the CA and
the certificate the address names."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from router.state.address import AddressError
from router.state.factory import open_store
from tests.replicated.servers import Server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificates")


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=callrouter test CA", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", "/CN=127.0.0.1", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", "san.cnf", cwd=d)
    server = Server(d, "redis", [])
    server.conf.write_text(server.conf.read_text() + f"port 0\ntls-port {server.port}\n"
                           f"tls-cert-file {d / 'server.pem'}\ntls-key-file {d / 'server.key'}\n"
                           f"tls-ca-cert-file {d / 'ca.pem'}\ntls-auth-clients yes\n")
    try:
        yield server.start(), d
    finally:
        server.stop()


async def test_calls_read_and_write_over_tls_with_a_client_certificate(tls_redis, prefix):
    server, d = tls_redis
    store = open_store(f"rediss://127.0.0.1:{server.port}/0?ca={d / 'ca.pem'}&cert={d / 'client.pem'}"
                           f"&key={d / 'client.key'}", prefix)
    try:
        await store.put_customers([("+79035550101", {"name": "Ivan", "abc": "A"})])
        snap = await store.snapshot("+79035550101", None, 1_800_000_000.0, 3600.0, record_inbound="c1")
        assert snap.customer["name"] == "Ivan"
        assert await store.ping()
    finally:
        await store.close()


async def test_without_the_client_certificate_the_store_is_refused(tls_redis, prefix):
    server, d = tls_redis
    store = open_store(f"rediss://127.0.0.1:{server.port}/0?ca={d / 'ca.pem'}", prefix)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the TLS handshake fails, as ssl or redis reports it
            await store.snapshot("+79035550101", None, 1_800_000_000.0, 3600.0, budget=2.0)
    finally:
        await store.close()
    with pytest.raises(AddressError, match="both cert and key"):
        open_store(f"rediss://127.0.0.1:{server.port}/0?ca={d / 'ca.pem'}&cert={d / 'client.pem'}", prefix)
