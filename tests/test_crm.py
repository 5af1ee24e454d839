"""The live CRM lookup against a real local HTTP server: budget, cache, negative cache, faults."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from router.asterisk.callsim import call
from router.core.rulefile import load_rules
from router.directory.crm import dig, map_answer
from tests.fake_services import BIG, OLGA, crm_rules
from tests.helpers import MONDAY_10, ROOT, ROUTER_CMD, Clock, RoundTrips, compiled, router_env


async def decision(r) -> dict:
    await r.router.log.flush()
    return (await r.router.log.newest(1))[0]


async def test_caller_known_only_to_the_crm_is_routed_by_their_crm_class_within_budget(serve, store, crm):
    crm.contacts["+79035550201"] = OLGA
    r = await serve(crm_rules(crm.port), Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550201")
    assert res.variables["ROUTE_RULE"] == "A customers reach their manager"
    assert (res.variables["ROUTE_ABC"], res.variables["ROUTE_MANAGER"]) == ("A", "ivanov")
    d = await decision(r)
    assert d["caller"]["crm"] == {"name": "Olga CRM", "abc": "A", "manager": "ivanov", "status": "active",
                                  "tags": "vip;wholesale", "contract": "4711"}
    assert d["caller"]["kind"] != "new" and d["latency_ms"] < 250
    assert any(x.startswith("CRM answered in") for x in d["reasons"])
    assert "profile from the CRM: abc A, manager ivanov, status active" in d["reasons"]


async def test_a_cache_hit_asks_nobody_and_stays_one_round_trip(serve, store, crm, monkeypatch):
    crm.contacts["+79035550201"] = OLGA
    r = await serve(crm_rules(crm.port), Clock(MONDAY_10))
    await call(r.agi.port, "+79035550201")
    await r.router.crm.drain()
    assert len(crm.hits) == 1
    trips = RoundTrips(monkeypatch)
    res = await call(r.agi.port, "+79035550201", uid=2)
    assert res.variables["ROUTE_MANAGER"] == "ivanov"
    assert len(crm.hits) == 1, "the second call was served from the cache"
    assert trips.n == 1, "the cached answer came with the call's one store round trip"
    assert "CRM (cached): known" in (await decision(r))["reasons"]
    assert 590 <= await store.r.ttl(store.k.crm("+79035550201")) <= 600


async def test_a_stalled_crm_costs_at_most_its_budget_and_the_call_is_routed_on_what_is_known(serve, store, crm):
    crm.contacts["+79035550201"] = OLGA
    crm.delay = 1.0
    r = await serve(crm_rules(crm.port), Clock(MONDAY_10))
    t0 = time.perf_counter()
    res = await call(r.agi.port, "+79035550201")
    elapsed = time.perf_counter() - t0
    assert res.variables["ROUTE_RULE"] == "new prospects" and res.variables["ROUTE_ABC"] == ""
    assert elapsed < 0.8, f"the call waited {elapsed:.2f} s for a CRM that takes 1 s"
    d = await decision(r)
    assert "CRM did not answer in 150 ms" in d["reasons"] and 150 <= d["latency_ms"] < 400
    await r.router.crm.drain()  # the lookup went on in the background and filled the cache
    res = await call(r.agi.port, "+79035550201", uid=2)
    assert res.variables["ROUTE_MANAGER"] == "ivanov" and len(crm.hits) == 1


async def test_the_crm_budget_never_exceeds_the_store_budget(serve, store, crm):
    crm.delay = 1.0
    r = await serve(crm_rules(crm.port, budget_ms=2000), Clock(MONDAY_10), budget=0.1)
    await call(r.agi.port, "+79035550201")
    d = await decision(r)
    assert d["latency_ms"] < 300 and any(x.startswith("CRM did not answer in") for x in d["reasons"])


@pytest.mark.parametrize("mode,reason", [("error", "CRM lookup failed: HTTP 503"),
                                         ("garbage", "CRM lookup failed: answer is not JSON"),
                                         ("huge", "CRM lookup failed: answer larger than 65536 bytes")])
async def test_crm_faults_fail_open_and_are_not_cached(serve, store, crm, mode, reason):
    crm.contacts["+79035550201"] = OLGA
    crm.mode = mode
    r = await serve(crm_rules(crm.port), Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550201")
    assert res.variables["ROUTE_RULE"] == "new prospects"
    d = await decision(r)
    assert any(x.startswith(reason) for x in d["reasons"]), d["reasons"]
    await r.router.crm.drain()
    assert await store.r.get(store.k.crm("+79035550201")) is None
    if mode == "huge":
        assert crm.sent < 4 * BIG, f"the router read on: the server got {crm.sent} bytes out"
    crm.mode = "ok"
    assert (await call(r.agi.port, "+79035550201", uid=2)).variables["ROUTE_MANAGER"] == "ivanov"


async def test_an_unknown_number_is_negatively_cached(serve, store, crm):
    r = await serve(crm_rules(crm.port), Clock(MONDAY_10))
    await call(r.agi.port, "+79035550299")
    await r.router.crm.drain()
    await call(r.agi.port, "+79035550299", uid=2)
    assert len(crm.hits) == 1
    assert "CRM (cached): does not know this number" in (await decision(r))["reasons"]
    assert 110 <= await store.r.ttl(store.k.crm("+79035550299")) <= 120


async def test_crm_fields_are_usable_in_when(serve, store, crm):
    crm.contacts["+79035550202"] = {**OLGA, "status": "debtor"}
    r = await serve(crm_rules(crm.port), Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550202")
    assert res.variables["ROUTE_RULE"] == "debtors go to collections"
    assert "CRM status=debtor" in (await decision(r))["reasons"]


async def test_directory_record_wins_over_the_crm_but_crm_fields_still_count(serve, store, crm):
    await store.put_customers([("+79035550202", {"abc": "C", "name": "Imported"})])
    crm.contacts["+79035550202"] = {**OLGA, "status": "debtor"}
    r = await serve(crm_rules(crm.port), Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550202")
    assert res.variables["ROUTE_ABC"] == "C" and res.variables["ROUTE_RULE"] == "debtors go to collections"


async def test_bitrix24_example_finds_the_contact_then_reads_it(serve, store, crm, tmp_path):
    example = (ROOT / "rules" / "examples" / "crm-bitrix24.yaml").read_text()
    f = tmp_path / "bitrix.yaml"
    f.write_text(example.replace("https://example.bitrix24.ru/rest/1/${BITRIX_WEBHOOK_KEY}",
                                 f"http://127.0.0.1:{crm.port}/rest"))
    crm.contacts["+79035550203"] = {"ID": "77", "NAME": "Pavel", "LAST_NAME": "B", "ASSIGNED_BY_ID": "5",
                                    "UF_CRM_ABC": "A", "COMPANY_ID": "12"}
    r = await serve(compiled(f.read_text()), Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550203")
    assert (res.variables["ROUTE_ABC"], res.variables["ROUTE_MANAGER"]) == ("A", "ivanov")
    assert crm.hits == [
        "/rest/crm.duplicate.findbycomm.json?entity_type=CONTACT&type=PHONE&values%5B%5D=%2B79035550203",
        "/rest/crm.contact.get.json?id=77"]
    await call(r.agi.port, "+79035550204", uid=2)  # unknown to Bitrix: one request, no contact.get
    assert len(crm.hits) == 3


def test_example_crm_rule_files_load():
    for name in ("crm-bitrix24.yaml", "crm-generic.yaml"):
        assert load_rules(ROOT / "rules" / "examples" / name).directory.crm is not None


def test_json_paths_and_mapping():
    doc = {"result": {"CONTACT": [5, 6]}, "x": [{"y": "z"}]}
    assert dig(doc, "result.CONTACT.0") == 5 and dig(doc, "x.0.y") == "z" and dig(doc, "result.NOPE.0") is None
    req = crm_rules(9).rs.directory.crm.requests[0]
    assert map_answer(req, {"data": {"segment": "silver", "name": "A\nB\x00" + "x" * 500}}) == {
        "abc": "B", "name": "AB" + "x" * 198}
    assert map_answer(req, {"data": {"segment": "platinum"}}) == {}, "a class that is not A, B or C is dropped"


@pytest.mark.slow
def test_simulate_reads_a_local_crm_answer_from_a_file(tmp_path):
    rules = ROOT / "rules" / "examples" / "crm-generic.yaml"  # its CRM is never asked: the file answers
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"contact": {"name": "Olga", "class": "A", "manager": "ivanov",
                                              "status": "debtor"}}))
    done = subprocess.run([*ROUTER_CMD, "simulate", "--rules", str(rules), "--caller", "+79035550201",
                           "--at", "2026-11-23T10:00", "--crm", str(answer), "--json"],
                          capture_output=True, text=True, env=router_env(ROUTER_STORE=""), timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["caller"]["crm"]["status"] == "debtor" and out["caller"]["abc"] == "A"
    assert any("CRM answer from" in x for x in out["reasons"])
