"""Companies and their branch numbers: CSV, API, and inheritance at ring time. Real Redis, real sockets."""

from __future__ import annotations

import subprocess

import aiohttp
import pytest

from router.asterisk.callsim import call
from router.core.phones import score
from router.directory.companies import import_csv, span
from tests.helpers import MONDAY_10, NEW_PROSPECTS_THEN_SUPPORT, ROUTER_CMD, Clock, RoundTrips, compiled, router_env

RULES = compiled("""
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  support:        {queue: support, timeout: 120}
  new_connection: {queue: new-connection, priority: 10}
  key_accounts:   {queue: key-accounts, timeout: 60}
managers:
  ivanov:  {endpoint: PJSIP/101, timeout: 20}
  petrova: {endpoint: PJSIP/102, timeout: 20}
rules:
  - name: retail chain goes to key accounts
    when: {company: retail-chain}
    route: [key_accounts]
  - name: A customers reach their manager
    when: {abc: A, has_manager: true}
    route: [manager, support]
""" + NEW_PROSPECTS_THEN_SUPPORT)

CSV = """company,name,abc,manager,tags,numbers
acme,ACME Holding,A,ivanov,vip,+7495123*;8 (812) 555-00-00
acme-north,ACME North branch,B,petrova,,+74951239000..+74951239999
retail-chain,Retail Chain,B,,,+7383*
broken,No numbers,A,ivanov,,
bad-class,Bad,Z,,,+7999*
"""


@pytest.fixture
async def companies(store, tmp_path):
    f = tmp_path / "companies.csv"
    f.write_text(CSV)
    report = await import_csv(store, str(f))
    return report


async def test_import_reports_bad_rows_by_line_and_keeps_the_good_ones(companies, tmp_path):
    assert companies.imported == 3
    assert [e.split(": ", 1)[0].rsplit(":", 1)[1] for e in companies.errors] == ["5", "6"]
    assert "lists no numbers" in companies.errors[0] and "abc 'Z'" in companies.errors[1]


async def test_branch_number_inherits_its_companys_class_and_manager(serve, store, companies):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "8 495 123-45-67")
    assert res.variables["ROUTE_ABC"] == "A" and res.variables["ROUTE_MANAGER"] == "ivanov"
    assert res.variables["ROUTE_CALLER_KIND"] != "new"
    assert res.chain()[0] == ("dial", "PJSIP/101", "20")
    await r.router.log.flush()
    [d] = await r.router.log.newest(1)
    assert d["caller"]["company"] == "acme" and d["caller"]["company_name"] == "ACME Holding"
    assert "branch of company ACME Holding: inherits abc A, manager ivanov" in d["reasons"]


async def test_nested_branch_range_wins_over_the_head_office_prefix(serve, store, companies):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+74951239555")
    assert (res.variables["ROUTE_ABC"], res.variables["ROUTE_MANAGER"]) == ("B", "petrova")
    res = await call(r.agi.port, "+78125550000", uid=2)
    assert res.variables["ROUTE_MANAGER"] == "ivanov"


async def test_customer_record_wins_over_the_company_but_the_company_is_shown(serve, store, companies):
    await store.put_customers([("+74951234567", {"name": "Olga", "abc": "C"})])
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+74951234567")
    assert (res.variables["ROUTE_ABC"], res.variables["ROUTE_MANAGER"]) == ("C", "")
    await r.router.log.flush()
    [d] = await r.router.log.newest(1)
    assert d["caller"]["company"] == "acme"


async def test_when_company_matches_the_company_id(serve, store, companies):
    r = await serve(RULES, Clock(MONDAY_10))
    res = await call(r.agi.port, "+73832001122")
    assert res.variables["ROUTE_RULE"] == "retail chain goes to key accounts"
    res = await call(r.agi.port, "+73912001122", uid=2)
    assert res.variables["ROUTE_RULE"] == "new prospects"


async def test_company_lookup_joins_the_one_round_trip(store, companies, monkeypatch):
    await store.ping()
    trips = RoundTrips(monkeypatch)
    snap = await store.snapshot("+74951234567", score("+74951234567"), MONDAY_10, 7 * 86400, record_inbound="c1")
    assert trips.n == 1 and snap.company["id"] == "acme"


async def test_reimport_replaces_a_companys_ranges(store, companies, tmp_path):
    f = tmp_path / "again.csv"
    f.write_text("company,name,abc,manager,tags,numbers\nacme,ACME Holding,A,ivanov,,+7812*\n")
    await import_csv(store, str(f))
    gone = await store.snapshot("+74951234567", None, MONDAY_10, 0)
    moved = await store.snapshot("+78121112233", None, MONDAY_10, 0)
    assert gone.company is None and moved.company["id"] == "acme"


@pytest.mark.parametrize("spec,lo,hi", [
    ("+7495*", 749500000000000, 749599999999999),
    ("+74951230000..+74951239999", 749512300000000, 749512399990000),
    ("8 495 123-45-67", 749512345670000, 749512345670000),
])
def test_number_specs(spec, lo, hi):
    assert span(spec, "RU") == (lo, hi)


@pytest.mark.parametrize("spec", ["+7495", "7495*", "+74951239999..+74951230000", "+7495..+74951230000"])
def test_bad_number_specs_are_refused(spec):
    with pytest.raises(ValueError):
        span(spec, "RU")


async def test_companies_api_puts_lists_and_deletes(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    base = f"http://127.0.0.1:{r.http_port}/api/companies"
    async with aiohttp.ClientSession() as s:
        async with s.put(f"{base}/acme", json={"name": "ACME", "abc": "A", "manager": "ivanov",
                                               "numbers": ["+7495123*"]}) as resp:
            assert resp.status == 200
        async with s.put(f"{base}/bad", json={"abc": "A", "numbers": []}) as resp:
            assert resp.status == 400 and "lists no numbers" in (await resp.json())["error"]
        async with s.get(base) as resp:
            assert [c["company"] for c in (await resp.json())["items"]] == ["acme"]
        assert (await call(r.agi.port, "+74951234567")).variables["ROUTE_MANAGER"] == "ivanov"
        async with s.delete(f"{base}/acme") as resp:
            assert resp.status == 200
        async with s.delete(f"{base}/acme") as resp:
            assert resp.status == 404
    assert (await call(r.agi.port, "+74951234567", uid=2)).variables["ROUTE_MANAGER"] == ""


@pytest.mark.slow
def test_cli_imports_companies(redis_url, prefix, tmp_path):
    f = tmp_path / "companies.csv"
    f.write_text(CSV)
    done = subprocess.run([*ROUTER_CMD, "companies", "import", str(f), "--store", redis_url, "--prefix", prefix],
                          capture_output=True, text=True, env=router_env(), timeout=60)
    assert done.returncode == 1
    assert "3 companies written, 2 rows skipped" in done.stdout
    assert f"{f}:5:" in done.stderr
