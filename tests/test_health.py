"""/healthz and /metrics over a real HTTP server: the outbox (depth, the oldest message, a channel a
target refuses with what to do, messages given up on) and a store that keeps nothing on disk."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from router.state.factory import open_store
from tests.helpers import ESCALATION_POLICY, HOUR, MONDAY_10, RULES_TEXT, Clock, compiled, free_port, http_get, missed


async def scrape(port: int) -> dict[str, list]:
    """/metrics as {family: [(labels, value), ...]}."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    return {f.name: [(s.labels, s.value) for s in f.samples if not s.name.endswith("_created")]
            for f in text_string_to_metric_families(text)}


async def served(serve, rules, clock):
    """The router on a real HTTP server, its outbox sending only when the test drains it (by the test's clock)."""
    r = await serve(rules, clock)
    await r.router.followups.outbox.stop(1)
    return r


def sms_rules(port: int):
    """Follow-ups whose SMS go to the gateway on `port` (the webhook is never triggered here)."""
    return compiled(RULES_TEXT + ESCALATION_POLICY.replace("{port}", str(port)))


@pytest.fixture
async def refusing_gateway():
    """An SMS gateway that refuses the router's key: 401 to every request. Yields its port."""

    async def unauthorised(_: web.Request) -> web.Response:
        return web.Response(status=401, text="bad api_id")

    app = web.Application()
    app.router.add_get("/sms", unauthorised)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def test_a_gateway_that_refuses_the_key_is_on_healthz_with_what_to_do(serve, refusing_gateway):
    clock = Clock(MONDAY_10)
    r = await served(serve, sms_rules(refusing_gateway), clock)
    await r.router.followups.on_outcome(missed("+79161234500"))
    await r.router.followups.drain()
    clock.advance(90)
    status, body = await http_get(r.http_port, "/healthz")
    assert status == 200 and body["status"] == "ok", "a refusing SMS gateway does not stop calls"
    outbox = body["outbox"]
    assert (outbox["depth"], outbox["oldest_age_seconds"]) == (1, 90.0)
    blocked = outbox["blocked"]["sms"]
    assert blocked["error"] == "HTTP 401 'bad api_id'" and "check its address and the key" in blocked["advice"]
    assert any(w.startswith("sms: every message waits: HTTP 401") and "then reload" in w for w in body["warnings"])
    metrics = await scrape(r.http_port)
    assert metrics["callrouter_outbox_depth"] == [({}, 1)]
    assert metrics["callrouter_outbox_oldest_age_seconds"] == [({}, 90)]
    assert ({"channel": "sms"}, 1) in metrics["callrouter_outbox_blocked"]
    assert ({"channel": "webhook"}, 0) in metrics["callrouter_outbox_blocked"]
    assert ({"channel": "sms"}, 1) in metrics["callrouter_outbox_failed_attempts"]


async def test_the_queue_empties_and_the_block_clears_once_the_gateway_takes_messages(serve, gateway):
    clock = Clock(MONDAY_10)
    r = await served(serve, sms_rules(gateway.port), clock)
    gateway.fail = 1  # a 503 first: tried again 2 s later
    await r.router.followups.on_outcome(missed("+79161234500"))
    await r.router.followups.drain()
    assert (await http_get(r.http_port, "/healthz"))[1]["outbox"]["depth"] == 1
    clock.advance(2)
    await r.router.followups.drain()
    body = (await http_get(r.http_port, "/healthz"))[1]
    assert body["outbox"] == {"depth": 0, "oldest_age_seconds": None, "unwritten": 0, "blocked": {}, "given_up": 0}
    assert len(gateway.sms) == 1
    metrics = await scrape(r.http_port)
    assert ({"channel": "sms", "result": "sent"}, 1) in metrics["callrouter_outbox_messages"]
    assert metrics["callrouter_outbox_depth"] == [({}, 0)]


async def test_a_message_given_up_on_is_counted_and_the_newest_says_why(serve):
    clock = Clock(MONDAY_10)
    nobody = free_port()  # nothing listens: every attempt fails to connect
    r = await served(serve, sms_rules(nobody), clock)
    await r.router.followups.on_outcome(missed("+79161234500"))
    await r.router.followups.drain()
    clock.advance(25 * HOUR)  # past notify.retry_for (24 h): the next attempt is the last
    await r.router.followups.drain()
    outbox = (await http_get(r.http_port, "/healthz"))[1]["outbox"]
    assert (outbox["depth"], outbox["given_up"]) == (0, 1)
    last = outbox["last_given_up"]
    assert last["label"] == "SMS to +79161234500" and "ClientConnectorError" in last["why"]
    metrics = await scrape(r.http_port)
    assert ({"channel": "sms", "result": "given_up"}, 1) in metrics["callrouter_outbox_messages"]
    assert metrics["callrouter_outbox_given_up"] == [({}, 1)]


@pytest.fixture
async def persistence_restored(store):
    """The session's Redis keeps nothing on disk; a test may turn AOF on, and it is turned off again after."""
    yield store
    await store.r.config_set("appendonly", "no")


async def test_a_store_without_persistence_is_on_healthz_until_redis_is_fixed(serve, persistence_restored):
    store = persistence_restored
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    status, body = await http_get(r.http_port, "/healthz")
    assert status == 200 and "keeps nothing on disk" in body["store_warning"]
    assert body["warnings"] == [body["store_warning"]]
    assert ({}, 1) in (await scrape(r.http_port))["callrouter_store_without_persistence"]
    await store.r.config_set("appendonly", "yes")  # what the warning says to do
    await r.router.tick()
    status, body = await http_get(r.http_port, "/healthz")
    assert "store_warning" not in body and body["warnings"] == []
    assert ({}, 0) in (await scrape(r.http_port))["callrouter_store_without_persistence"]


async def test_with_the_store_down_healthz_still_counts_what_waits_in_memory(serve):
    dead = open_store(f"redis://127.0.0.1:{free_port()}/0")
    r = await serve(sms_rules(free_port()), Clock(MONDAY_10), the_store=dead)
    status, body = await http_get(r.http_port, "/healthz")
    assert status == 503 and body["outbox"] == {"unwritten": 0, "unavailable": "the store is down"}
    await dead.close()
