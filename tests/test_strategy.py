"""Strategy (expansion | retention) and the IVR choice, over real FastAGI, HTTP and Redis."""

from __future__ import annotations

import aiohttp
import pytest

from router.asterisk.callsim import call
from router.asterisk.variables import agi_choice
from router.core.phones import score
from router.service import Router
from tests.helpers import MONDAY_10, NEW_PROSPECTS_THEN_SUPPORT, Clock, RoundTrips, compiled, missed

RULES_TEXT = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU, strategy: expansion}
targets:
  new_connection: {queue: new-connection, priority: 10, priorities: {expansion: 20, retention: 5}}
  retention:      {queue: retention, priority: 8, priorities: {retention: 30}}
  support:        {queue: support, timeout: 120}
  operators:      {queue: operators}
managers:
  ivanov: {endpoint: PJSIP/101}
rules:
  - name: new connection chosen in the IVR
    when: {choice: new-connection}
    route: [new_connection, operators]
    type: new_connection
  - name: prospects who call again
    when: {prospect: true}
    route: [new_connection]
  - name: B customers are held under retention
    when: {strategy: retention, abc: B}
    route: [retention]
""" + NEW_PROSPECTS_THEN_SUPPORT + """\
types: {new_connection: {label: new connection, prospect: true}}
"""
RULES = compiled(RULES_TEXT)


async def switch(port: int, body) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{port}/api/strategy", json=body) as resp:
        return resp.status, await resp.json()


async def test_flipping_the_strategy_reorders_priorities_without_a_reload(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    other = Router(RULES, store, clock=Clock(MONDAY_10))  # a second router on the same store
    assert (await call(r.agi.port, "+79161230001")).variables["ROUTE_PRIORITY"] == "20"
    status, body = await switch(r.http_port, {"strategy": "retention", "by": "head of sales"})
    assert status == 200 and body["previous"] == "expansion (rule file)"
    res = await call(r.agi.port, "+79161230002", uid=2)
    assert res.variables["ROUTE_PRIORITY"] == "5"
    assert (await other.route({"agi_callerid": "+79161230003"}, record=False)).priority == 5
    await r.router.log.flush()
    [d] = await r.router.log.newest(1)
    assert "strategy retention: new_connection at priority 5" in d["reasons"]
    assert d["caller"]["strategy"] == "retention"
    assert r.router.rules is RULES, "no reload happened"


async def test_when_strategy_matches_only_under_that_strategy(serve, store):
    await store.put_customers([("+79035550103", {"abc": "B"})])
    r = await serve(RULES, Clock(MONDAY_10))
    assert (await call(r.agi.port, "+79035550103")).variables["ROUTE_RULE"] == "everyone else"
    await switch(r.http_port, {"strategy": "retention"})
    res = await call(r.agi.port, "+79035550103", uid=2)
    assert res.variables["ROUTE_RULE"] == "B customers are held under retention"
    assert res.variables["ROUTE_PRIORITY"] == "30"


async def test_strategy_is_persisted_and_reported(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/api/strategy") as resp:
        assert (await resp.json())["source"] == "rule file"
    await switch(r.http_port, {"strategy": "retention", "by": "anna"})
    fresh = Router(RULES, store)
    now = await fresh.strategy()
    assert (now["strategy"], now["by"], now["source"]) == ("retention", "anna", "runtime")


@pytest.mark.parametrize("body", [{"strategy": "growth"}, {"by": "x"}, ["retention"]])
async def test_unknown_strategy_is_refused(serve, body):
    r = await serve(RULES, Clock(MONDAY_10))
    status, answer = await switch(r.http_port, body)
    assert status == 400 and "error" in answer


async def test_worklist_order_follows_the_strategy(serve, store):
    await store.put_customers([("+79035550101", {"abc": "A"})])
    clock = Clock(MONDAY_10)
    r = await serve(RULES, clock)
    await r.router.followups.on_outcome(missed("+79035550101", "1"))
    clock.advance(60)
    await r.router.followups.on_outcome(missed("+79161239999", "2"))  # a new prospect, due a minute later
    assert [t["number"] for t in await r.router.followups.worklist()] == ["+79161239999", "+79035550101"]
    await switch(r.http_port, {"strategy": "retention"})
    assert [t["number"] for t in await r.router.followups.worklist()] == ["+79035550101", "+79161239999"]


async def test_strategy_is_read_in_the_one_round_trip(store, monkeypatch):
    await store.set_strategy("retention", "test", MONDAY_10)
    trips = RoundTrips(monkeypatch)
    snap = await store.snapshot("+79161230001", score("+79161230001"), MONDAY_10, 86400, record_inbound="c1")
    assert trips.n == 1 and snap.strategy == "retention"


async def test_new_connection_chosen_in_the_ivr_reaches_the_priority_queue_and_marks_a_prospect(serve, store):
    await store.put_customers([("+79035550104", {"abc": "C"})])
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550104", args=("choice=new-connection",))
    assert res.variables["ROUTE_RULE"] == "new connection chosen in the IVR"
    assert res.chain()[0] == ("queue", "new-connection", "60") and res.variables["ROUTE_PRIORITY"] == "20"
    await r.router.log.flush()
    [d] = await r.router.log.newest(1)
    assert "IVR choice: new-connection" in d["reasons"] and d["prospect"] is True
    assert (await store.r.hgetall(store.k.state("+79035550104")))["prospect"] == "1"
    again = await call(r.agi.port, "+79035550104", uid=2)
    assert again.variables["ROUTE_RULE"] == "prospects who call again"


def test_choice_is_read_from_the_agi_arguments_as_a_plain_word():
    assert agi_choice({"agi_arg_1": "lang=ru", "agi_arg_2": "choice=new-connection"}) == "new-connection"
    assert agi_choice({"agi_arg_1": 'choice=a"b c\\d$'}) == "abcd"
    assert agi_choice({"agi_arg_2": "choice=x"}) == "", "arguments are numbered from 1 without gaps"
    assert agi_choice({}) == ""
