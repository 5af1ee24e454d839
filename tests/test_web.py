"""The HTTP API over a real aiohttp server."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.asterisk.callsim import call
from router.core.decide import CompiledRules
from router.core.outcome import Outcome
from router.core.rulefile import load_rules
from router.state.factory import open_store
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, free_port, http_get, http_post


@pytest.fixture
def rules_file(tmp_path):
    f = tmp_path / "rules.yaml"
    f.write_text(RULES_TEXT)
    return f


async def test_healthz_reports_the_store(serve, rules_file):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10))
    status, body = await http_get(r.http_port, "/healthz")
    assert (status, body["status"], body["store"]) == (200, "ok", "up")


async def test_healthz_is_503_when_the_store_is_down(serve, rules_file):
    dead = open_store("redis://127.0.0.1:1/0")
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10), the_store=dead)
    status, body = await http_get(r.http_port, "/healthz")
    assert status == 503 and body["store"].startswith("down")
    await dead.close()


async def test_decisions_api_returns_newest_first_with_inputs_and_reasons(serve, rules_file, store):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov"})])
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10))
    await call(r.agi.port, "+79161234500", uid=1)
    await call(r.agi.port, "+79035550101", "Olga", uid=2)
    await r.router.log.flush()
    status, body = await http_get(r.http_port, "/api/decisions?limit=5")
    assert status == 200 and len(body) == 2
    newest = body[0]
    assert newest["rule"] == "A customers reach their manager"
    assert newest["call"]["callerid"] == "+79035550101" and newest["call"]["name"] == "Olga"
    assert newest["caller"]["abc"] == "A" and newest["steps"][0]["dest"] == "PJSIP/101"
    assert newest["latency_ms"] > 0 and "abc=A, manager=ivanov" in newest["reasons"]
    assert (await http_get(r.http_port, "/api/decisions?limit=1"))[1][0]["id"] == newest["id"]


async def test_decisions_limit_is_validated(serve, rules_file):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10))
    assert (await http_get(r.http_port, "/api/decisions?limit=abc"))[0] == 400
    assert (await http_get(r.http_port, "/api/decisions?limit=100000"))[0] == 400


async def test_reload_with_a_broken_file_keeps_the_rules_in_force(serve, rules_file):
    r = await serve(CompiledRules(load_rules(rules_file), str(rules_file)), Clock(MONDAY_10),
                    rules_path=rules_file)
    before = r.router.rules
    rules_file.write_text(RULES_TEXT.replace("route: [support]", "route: [nowhere]"))
    status, body = await http_post(r.http_port, "/api/rules/reload")
    assert status == 422 and body["reloaded"] is False
    assert any(":" in p and "nowhere" in p for p in body["problems"])
    assert r.router.rules is before
    assert (await call(r.agi.port, "+79161234500")).variables["ROUTE_1_DEST"] == "new-connection"


async def test_reload_with_a_good_file_swaps_the_rules(serve, rules_file):
    r = await serve(CompiledRules(load_rules(rules_file), str(rules_file)), Clock(MONDAY_10),
                    rules_path=rules_file)
    rules_file.write_text(RULES_TEXT.replace("route: [new_connection]", "route: [operators]"))
    status, body = await http_post(r.http_port, "/api/rules/reload")
    assert (status, body["reloaded"]) == (200, True)
    assert (await call(r.agi.port, "+79161234500")).variables["ROUTE_1_DEST"] == "operators"


async def test_api_requires_the_token_when_set(serve, rules_file):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10), token="s3cret")
    assert (await http_get(r.http_port, "/api/decisions"))[0] == 401
    assert (await http_get(r.http_port, "/api/decisions", headers={"Authorization": "Bearer nope"}))[0] == 401
    assert (await http_get(r.http_port, "/api/decisions", headers={"Authorization": "Bearer s3cret"}))[0] == 200
    assert (await http_get(r.http_port, "/healthz"))[0] == 200


async def post_raw(port: int, path: str, body: bytes, **kw):
    async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{port}{path}", data=body,
                                                    headers={"Content-Type": "application/json"}, **kw) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("body", [b"[]", b'"ivanov"', b"42", b"null", b"true", b"{not json"])
async def test_close_with_a_body_that_is_not_a_json_object_is_400_with_a_message(serve, rules_file, body):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10))
    status, answer = await post_raw(r.http_port, "/api/followups/nope/close", body)
    assert status == 400 and "must be a JSON object" in answer["error"]


async def test_query_token_is_accepted_only_on_the_event_stream(serve, rules_file):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10), token="s3cret")
    assert (await http_get(r.http_port, "/api/decisions?token=s3cret"))[0] == 401
    assert (await http_post(r.http_port, "/api/rules/reload?token=s3cret"))[0] == 401
    assert (await http_post(r.http_port, "/api/followups/x/close?token=s3cret"))[0] == 401
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{r.http_port}/api/decisions/stream?token=s3cret") as resp:
            assert resp.status == 200 and await resp.content.readline() == b": connected\n"
        async with s.get(f"http://127.0.0.1:{r.http_port}/api/decisions/stream?token=wrong") as resp:
            assert resp.status == 401
        async with s.get(f"http://127.0.0.1:{r.http_port}/?token=s3cret") as resp:
            assert resp.status == 200


async def test_metrics_token_guards_metrics_only(serve, rules_file, monkeypatch):
    monkeypatch.setenv("ROUTER_METRICS_TOKEN", "m3trics")
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10), token="s3cret")
    url = f"http://127.0.0.1:{r.http_port}/metrics"
    async with aiohttp.ClientSession() as s:
        for headers, status in (({}, 401), ({"Authorization": "Bearer s3cret"}, 401),
                                ({"Authorization": "Bearer m3trics"}, 200)):
            async with s.get(url, headers=headers) as resp:
                assert resp.status == status
        async with s.get(url + "?token=m3trics") as resp:
            assert resp.status == 401
    assert (await http_get(r.http_port, "/api/decisions", headers={"Authorization": "Bearer m3trics"}))[0] == 401


async def test_metrics_are_open_without_a_metrics_token(serve, rules_file, monkeypatch):
    monkeypatch.delenv("ROUTER_METRICS_TOKEN", raising=False)
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10), token="s3cret")
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/metrics") as resp:
        assert resp.status == 200 and "callrouter_decisions_total" in await resp.text()


async def get_text(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.text()


async def test_metrics_without_the_store_serve_the_counters_and_say_what_is_missing(serve, rules_file):
    dead = open_store(f"redis://127.0.0.1:{free_port()}/0")
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10), the_store=dead)
    status, text = await get_text(r.http_port, "/metrics")
    assert status == 200 and "\ncallrouter_decisions_total 0" in text
    assert "# follow-up counts, at-risk list and outbox unavailable: store unreachable (" in text
    assert "callrouter_followups{" not in text
    await dead.close()


async def test_a_bug_behind_metrics_or_healthz_is_a_500_not_a_store_that_is_down(serve, rules_file, monkeypatch):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10))

    async def bug(*args, **kwargs):
        raise KeyError("a bug in the router")

    monkeypatch.setattr(r.router.followups, "order", bug)
    monkeypatch.setattr(r.router.store, "ping", bug)
    status, text = await get_text(r.http_port, "/metrics")
    assert status == 500 and "unreachable" not in text
    status, text = await get_text(r.http_port, "/healthz")
    assert status == 500 and "down" not in text


HOSTILE_OWNER = 'x"}\ncallrouter_decisions_total 999999\n#'


async def test_a_follow_up_owner_cannot_add_lines_to_metrics(serve, rules_file):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10))
    await call(r.agi.port, "+79161234500", uid=1)
    await r.router.followups.on_outcome(Outcome("1.1", "inbound", "+79161234500", "missed", ring_seconds=20.0,
                                                ended_at=MONDAY_10, reason="no answer"))
    [task] = await r.router.followups.worklist("open")
    assert (await http_post(r.http_port, f"/api/followups/{task['id']}/take", json={"by": HOSTILE_OWNER}))[0] == 200
    status, text = await get_text(r.http_port, "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert [s.value for s in families["callrouter_decisions"].samples] == [1]
    followups = [(s.labels["owner"], s.labels["state"], s.value) for s in families["callrouter_followups"].samples]
    assert followups == [(HOSTILE_OWNER, "open", 1), (HOSTILE_OWNER, "overdue", 0)]
    assert "\ncallrouter_decisions_total 999999" not in text


DEEP = b"[" * 30_000 + b"]" * 30_000
"""A 60 KB body nested 30,000 deep: under the size cap, far past Python's recursion limit."""

JSON_BODY_ROUTES = [("POST", "/api/events"), ("POST", "/api/strategy"), ("POST", "/api/followups/x/take"),
                    ("POST", "/api/followups/x/comment"), ("POST", "/api/followups/x/close"),
                    ("POST", "/api/calls/x/type"), ("PUT", "/api/companies/acme")]


async def send_raw(port: int, method: str, path: str, body: bytes) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.request(method, f"http://127.0.0.1:{port}{path}", data=body,
                                                       headers={"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(("method", "path"), JSON_BODY_ROUTES)
async def test_a_body_nested_30000_deep_is_a_400_that_says_so(serve, rules_file, method, path):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10))
    status, answer = await send_raw(r.http_port, method, path, DEEP)
    assert status == 400 and "nested deeper than 32 levels" in answer["error"], answer


def nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


async def test_bodies_may_nest_32_levels_and_no_more(serve, rules_file):
    r = await serve(CompiledRules(load_rules(rules_file)), Clock(MONDAY_10))
    ok = orjson.dumps({"strategy": "retention", "by": "head of sales", "note": nested(31)})
    status, answer = await send_raw(r.http_port, "POST", "/api/strategy", ok)
    assert status == 200 and answer["strategy"] == "retention", answer
    too_deep = orjson.dumps({"strategy": "retention", "by": "head of sales", "note": nested(32)})
    status, answer = await send_raw(r.http_port, "POST", "/api/strategy", too_deep)
    assert status == 400 and "nested deeper than 32 levels" in answer["error"]
