"""The fault suite's own processes behave as the other fault tests rely on."""

from __future__ import annotations

import signal


def test_router_process_answers_a_call_and_stops_cleanly_on_sigterm(redis_server, router_process):
    r = router_process(store=redis_server.url)
    result = r.call("+79161234501")
    assert result.variables["ROUTE_RULE"] != "fallback"
    assert r.http("/healthz")[0] == 200
    r.signal(signal.SIGTERM)
    assert r.wait() == 0
    assert "routing on agi://" in r.log()


def test_redis_server_restarts_on_the_same_port(redis_server):
    port = redis_server.port
    redis_server.client().set("k", "v")
    redis_server.kill()
    assert not redis_server.running
    redis_server.start()
    assert redis_server.port == port and redis_server.client().get("k") is None
