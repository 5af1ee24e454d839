"""Callers who chose in a menu, asked about again over real FastAGI against real Redis: the same call is no
repeat of itself, a typed contract number routes the call as that customer, each ask's cost in round trips."""

from __future__ import annotations

import pytest

from router.asterisk.callsim import call
from router.service import Router
from tests.fake_services import OLGA
from tests.helpers import CONTRACT, MENU_RULES_TEXT, MONDAY_10, Clock, RoundTrips, compiled

MENUS = compiled(MENU_RULES_TEXT)
KEY_3 = ("menu=main", "key=3", "choice=new-connection")
A_CUSTOMER = "+79035550101"
PHONE = "+79991234567"
"""A phone the directory does not know (a customer calling from someone else's)."""


def typed(digits: str) -> tuple[str, ...]:
    return ("menu=contract", "key=input", f"contract={digits}")


async def last_decision(r) -> dict:
    await r.router.log.flush()
    return (await r.router.log.newest(1))[0]


@pytest.fixture
async def a_customer(store):
    await store.put_customers([(A_CUSTOMER, {"name": "Olga", "abc": "A", "manager": "ivanov", "contract": CONTRACT})])


async def test_a_first_time_caller_who_chose_in_the_menu_is_still_new_not_a_repeat_of_himself(serve):
    clock = Clock(MONDAY_10)
    r = await serve(MENUS, clock)
    first = await call(r.agi.port, "+79161234500", uid=7, dnid="88006008200")
    assert first.chain() == [("ivr", "callrouter-menu-main", "60")] and first.variables["ROUTE_CALLER_KIND"] == "new"
    assert first.variables["ROUTE_DNID"] == "88006008200", "a chain to a menu says the called number"
    clock.advance(20)  # the prompt, then key 3; in the menu the extension is "3" and no DNID is known
    again = await call(r.agi.port, "+79161234500", uid=7, extension="3", args=(*KEY_3, "dnid=88006008200"))
    v = again.variables
    assert (v["ROUTE_RULE"], v["ROUTE_CALLER_KIND"]) == ("new connection chosen in the menu", "new")
    asked = await r.router.route({"agi_callerid": "+79161234500", "agi_uniqueid": "1795337767.7", "agi_dnid": "unknown",
                                  "agi_extension": "3", "agi_arg_1": "menu=main", "agi_arg_2": "key=3",
                                  "agi_arg_3": "dnid=88006008200"}, record=False)
    assert asked.caller.dnid == "88006008200", "the called number, not the key's extension"
    assert again.chain()[0] == ("queue", "new-connection", "60") and v["QUEUE_PRIO"] == "10"
    clock.advance(600)  # another call of the same number, ten minutes later: that one is a repeat
    later = await call(r.agi.port, "+79161234500", uid=8, dnid="88006008200")
    assert later.variables["ROUTE_CALLER_KIND"] == "repeat"


async def test_the_same_call_asking_again_sees_the_history_as_it_was_before_its_first_ask(store):
    number, t = "+79161234501", MONDAY_10
    await store.snapshot(number, None, t - 600, 7 * 86400, record_inbound="earlier")
    await store.snapshot(number, None, t, 7 * 86400, record_inbound="this")
    seen = await store.snapshot(number, None, t + 30, 7 * 86400, same_call="this")
    assert (float(seen.state["in"]), seen.inbound) == (t - 600, [t - 600]), "only the earlier call is a previous one"
    alone = "+79161234502"
    await store.snapshot(alone, None, t, 7 * 86400, record_inbound="only")
    seen = await store.snapshot(alone, None, t + 30, 7 * 86400, same_call="only")
    assert "in" not in seen.state and seen.inbound == []


async def test_a_key_costs_one_round_trip_like_the_first_ask_and_a_typed_number_two(serve, store, a_customer,
                                                                                    monkeypatch):
    r = await serve(MENUS, Clock(MONDAY_10))
    await store.ping()
    trips = RoundTrips(monkeypatch)
    first = await call(r.agi.port, PHONE, uid=1)
    assert (trips.n, len(first.commands)) == (1, 1)
    key = await call(r.agi.port, PHONE, uid=1, args=KEY_3)
    assert (trips.n, len(key.commands)) == (2, 1)
    number = await call(r.agi.port, PHONE, uid=1, args=typed(CONTRACT))
    assert (trips.n, len(number.commands)) == (4, 1)
    malformed = await call(r.agi.port, PHONE, uid=1, args=typed("12345678"))
    assert (trips.n, malformed.commands) == (4, ['EXEC MSet "ROUTE_INPUT=wrong"']), "a bad check digit asks no store"


async def test_a_typed_contract_routes_the_call_as_that_customer_to_his_manager(serve, store, a_customer):
    await store.r.hset(store.k.state(A_CUSTOMER), mapping={"followup": "fu-1", "task_owner": "ivanov"})
    r = await serve(MENUS, Clock(MONDAY_10))
    await call(r.agi.port, PHONE, uid=3)
    res = await call(r.agi.port, PHONE, uid=3, args=typed(CONTRACT))
    v = res.variables
    assert res.chain() == [("dial", "PJSIP/101", "20")]
    assert (v["ROUTE_RULE"], v["ROUTE_ABC"], v["ROUTE_MANAGER"]) == ("A customers reach their manager", "A", "ivanov")
    d = await last_decision(r)
    assert f"identified by contract {CONTRACT}: {A_CUSTOMER}, abc A, manager ivanov" in d["reasons"]
    c = d["caller"]
    assert (c["number"], c["phone"], c["identified"], c["open_followup"], c["task_owner"]) == \
        (A_CUSTOMER, PHONE, f"contract {CONTRACT}", "fu-1", "ivanov")


async def test_a_number_nobody_has_is_wrong_and_no_decision_is_made(serve, store, a_customer):
    r = await serve(MENUS, Clock(MONDAY_10))
    made = r.router.decisions
    for digits in ("79927398", "1234567", "00000000"):  # nobody's; too short; nobody's
        res = await call(r.agi.port, PHONE, uid=4, args=typed(digits))
        assert res.variables == {"ROUTE_INPUT": "wrong"}, digits
    assert r.router.decisions == made and r.router.wrong_inputs == 3
    await store.put_customers([(A_CUSTOMER, {"abc": "A", "manager": "ivanov", "contract": "79927398"})])
    res = await call(r.agi.port, PHONE, uid=4, args=typed(CONTRACT))
    assert res.variables == {"ROUTE_INPUT": "wrong"}, "a contract the customer no longer holds names nobody"


CRM_BY_CONTRACT = """
directory:
  crm:
    requests:
      - url: http://127.0.0.1:{port}/api/contact
        query: {{phone: "{{number}}"}}
        map: {{name: data.name}}
    contract_requests:
      - url: http://127.0.0.1:{port}/api/contract
        query: {{id: "{{contract}}"}}
        map: {{name: data.name, abc: data.segment, manager: data.owner.login, number: data.phone}}
        translate: {{abc: {{gold: A}}}}
"""


async def test_a_contract_the_directory_does_not_know_is_asked_of_the_crm(serve, store, crm):
    crm.contacts[A_CUSTOMER] = {**OLGA, "contract": {"id": CONTRACT}}
    r = await serve(compiled(MENU_RULES_TEXT + CRM_BY_CONTRACT.format(port=crm.port)), Clock(MONDAY_10))
    res = await call(r.agi.port, PHONE, uid=5, args=typed(CONTRACT))
    assert res.variables["ROUTE_MANAGER"] == "ivanov" and res.chain() == [("dial", "PJSIP/101", "20")]
    d = await last_decision(r)
    assert d["caller"]["number"] == A_CUSTOMER and "identified by the CRM" in d["reasons"]
    assert f"/api/contract?id={CONTRACT}" in crm.hits
    del crm.contacts[A_CUSTOMER]
    assert (await call(r.agi.port, PHONE, uid=6, args=typed(CONTRACT))).variables == {"ROUTE_INPUT": "wrong"}


async def test_an_option_that_names_its_target_is_honoured_while_the_store_is_away(serve, store, monkeypatch):
    r = await serve(MENUS, Clock(MONDAY_10), budget=0.05)

    async def away(*a, **kw):
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(r.router.store, "snapshot", away)
    res = await call(r.agi.port, PHONE, uid=9, args=("menu=main", "key=2"))
    assert res.chain() == [("queue", "support", "120")] and res.variables["ROUTE_RULE"] == "menu main: 2"
    chose = await call(r.agi.port, PHONE, uid=9, args=KEY_3)
    assert chose.variables["ROUTE_RULE"] == "fallback", "the rules need the caller the store could not read"


async def test_serve_writes_the_menus_dialplan_at_start_and_after_each_reload_that_loads(store, tmp_path):
    rules, out = tmp_path / "r.yaml", tmp_path / "callrouter-ivr.conf"
    rules.write_text(MENU_RULES_TEXT)
    router = Router.from_path(rules, store)
    router.ivr_dialplan = str(out)
    await router.write_ivr_dialplan()
    assert "[callrouter-menu-main]" in out.read_text() and "[callrouter-menu-billing]" not in out.read_text()
    rules.write_text(MENU_RULES_TEXT + "  billing:\n    prompts: [custom/billing]\n    options: {'1': hangup}\n")
    assert await router.reload() == []
    assert "[callrouter-menu-billing]" in out.read_text()
    before = out.read_text()
    rules.write_text(MENU_RULES_TEXT.replace('"9": repeat', '"9": repaet'))
    assert await router.reload() != [] and out.read_text() == before, "a reload that fails leaves the file alone"
    router.ivr_dialplan = str(tmp_path / "no such folder" / "callrouter-ivr.conf")
    rules.write_text(MENU_RULES_TEXT)
    assert await router.reload() == [], "a file the router cannot write does not fail the reload"
    assert router.rules.rs.menus.keys() == {"main", "contract"}
