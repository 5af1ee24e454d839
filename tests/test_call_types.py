"""Call types: declared in the rules, given by rule, target or called number, kept on the decision and the
outcome, corrected afterwards; prospects stay prospects until a conversation is answered."""

from __future__ import annotations

import aiohttp
import pytest

from router.asterisk.callsim import call
from router.core.rulefile import load_rules_text
from tests.helpers import MONDAY_10, NEW_PROSPECTS_THEN_SUPPORT, Clock, answered, compiled, missed, problems

TYPED_RULES = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
identify: {repeat_within: 1h, callback_within: 24h, returning_after: 90d}
targets:
  new_connection: {queue: new-connection, priority: 10, timeout: 60, owner: sales-lead, type: new_connection}
  support:        {queue: support, timeout: 120}
  retention:      {queue: retention, timeout: 60, type: churn}
rules:
  - name: churn risk
    when: {tags: churn-risk}
    route: [retention]
  - name: unpaid
    when: {tags: debtor}
    route: [support]
    type: payment
  - name: prospects stay prospects
    when: {prospect: true, kind: [repeat, callback, known]}
    route: [new_connection]
""" + NEW_PROSPECTS_THEN_SUPPORT + """\
followup: {owner: duty}
types:
  internal: внутренний звонок
  payment: вопрос по оплате
  new_connection: {label: новое подключение, prospect: true}
  churn: расторжение
  missed: разговор не состоялся
  support: сервис, техподдержка
types_by_dnid:
  "88006008200": support
types_by_choice:
  payment: payment
"""


def test_types_are_declared_with_labels_in_any_language():
    rs = load_rules_text(TYPED_RULES)
    assert rs.type_label("payment") == "вопрос по оплате"
    assert rs.types["new_connection"].prospect and not rs.types["payment"].prospect
    assert rs.assignable_types() == ["internal", "payment", "new_connection", "churn", "support"]


@pytest.mark.parametrize(("fragment", "where", "message"), [
    ("    type: paymnet\n", 16, "rules[1].type: unknown call type 'paymnet'"),
    ("    type: missed\n", 16, "'missed' is what the report calls an unanswered call"),
])
def test_unknown_or_unassignable_type_on_a_rule_is_an_error_with_its_line(fragment, where, message):
    text = TYPED_RULES.replace("    type: payment\n", fragment)
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(f"r.yaml:{where}: ") and message in found[0], found


def test_unknown_type_on_a_target_a_called_number_or_a_choice_is_an_error_with_its_line():
    text = TYPED_RULES.replace("type: churn}", "type: cancel}").replace('"88006008200": support',
                                                                         '"88006008200": suport')
    found = problems(text.replace("  payment: payment\n", "  payment: paiement\n"))
    assert found[0].startswith("r.yaml:8: targets.retention.type: unknown call type 'cancel'"), found
    assert found[1].startswith("r.yaml:") and "types_by_dnid" in found[1] and "'suport'" in found[1], found
    assert found[2].startswith("r.yaml:37: types_by_choice.payment: unknown call type 'paiement'"), found


def test_bad_type_name_is_an_error():
    assert any("types" in p and "pattern" in p for p in problems(TYPED_RULES.replace("  churn:", "  Churn Risk:")))


async def test_type_comes_from_the_rule_then_the_target_then_the_called_number(serve, store):
    await store.put_customers([("+79035550101", {"tags": "debtor"}), ("+79035550102", {"tags": "churn-risk"}),
                               ("+79035550103", {"name": "known"})])
    r = await serve(compiled(TYPED_RULES), Clock(MONDAY_10))
    await call(r.agi.port, "+79035550101", uid=1)  # rule type
    await call(r.agi.port, "+79035550102", uid=2)  # the target's type
    await call(r.agi.port, "+79035550103", uid=3, dnid="88006008200")  # the called number's
    await call(r.agi.port, "+79035550103", uid=4, dnid="84950000000")  # none
    await call(r.agi.port, "+79035550103", uid=5, dnid="88006008200", args=("choice=payment",))  # the IVR's
    await r.router.log.flush()
    got = [(d["caller"]["number"], d["type"]) for d in reversed(await r.router.log.newest(5))]
    assert got == [("+79035550101", "payment"), ("+79035550102", "churn"), ("+79035550103", "support"),
                   ("+79035550103", ""), ("+79035550103", "payment")]


async def test_type_is_kept_on_the_outcome_and_a_missed_call_keeps_it(serve, store):
    r = await serve(compiled(TYPED_RULES), Clock(MONDAY_10))
    v = (await call(r.agi.port, "+79161234500", uid=1)).variables
    await r.router.log.flush()
    o = missed("+79161234500", "1795337780.1", v["ROUTE_DECISION"])
    assert await store.record_outcome(o)
    [logged] = await r.router.log.newest(1)
    assert (logged["type"], logged["outcome"]["type"], logged["outcome"]["result"]) == \
        ("new_connection", "new_connection", "missed")


async def test_agent_corrects_the_type_before_and_after_the_outcome(serve, store):
    await store.put_customers([("+79035550103", {"name": "known"})])
    clock = Clock(MONDAY_10)
    r = await serve(compiled(TYPED_RULES), clock, token="t0k")
    first = (await call(r.agi.port, "+79035550103", uid=1, dnid="88006008200")).variables["ROUTE_DECISION"]
    clock.advance(7200)
    second = (await call(r.agi.port, "+79035550103", uid=2, dnid="88006008200")).variables["ROUTE_DECISION"]
    await r.router.log.flush()
    o = answered("+79035550103", direction="inbound")
    o.decision, o.linkedid = first, "a.1"
    assert await store.record_outcome(o)
    base = f"http://127.0.0.1:{r.http_port}"
    auth = {"Authorization": "Bearer t0k"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(f"{base}/api/calls/{first}/type", json={"type": "payment", "by": "ivanov"}) as resp:
            assert resp.status == 200 and (await resp.json())["counted"] is True
        async with http.post(f"{base}/api/calls/{second}/type", json={"type": "churn", "by": "ivanov"}) as resp:
            assert resp.status == 200 and (await resp.json())["counted"] is False
        async with http.post(f"{base}/api/calls/{second}/type", json={"type": "missed"}) as resp:
            assert resp.status == 422 and "unknown call type 'missed'" in (await resp.json())["error"]
        async with http.post(f"{base}/api/calls/0000000000000000/type", json={"type": "churn"}) as resp:
            assert resp.status == 404
        async with http.post(f"{base}/api/calls/{second}/type", data="nope") as resp:
            assert resp.status == 400
        async with http.post(f"{base}/api/calls/{second}/type", json={"type": "internal"}) as resp:
            assert resp.status == 422, "the number decides what is internal"
        async with http.get(f"{base}/api/types") as resp:
            assert [t["name"] for t in await resp.json()] == ["payment", "new_connection", "churn", "support"]
    o2 = answered("+79035550103", direction="inbound")
    o2.decision, o2.linkedid = second, "a.2"
    assert await store.record_outcome(o2)
    outcomes = await store.outcomes_for([first, second])
    assert (outcomes[first]["type"], outcomes[second]["type"]) == ("payment", "churn")
    [day] = {c["day"] for c in await store.calls_of("2026-11-23")}
    counters = (await store.report_counters([day]))[0]
    assert (counters.get("t|support"), counters["t|payment"], counters["t|churn"]) == ("0", "1", "1")


async def test_prospect_missed_twice_in_an_hour_stays_first_in_the_worklist(serve, store):
    clock = Clock(MONDAY_10)
    r = await serve(compiled(TYPED_RULES), clock)
    fu = r.router.followups
    v1 = (await call(r.agi.port, "+79161234500", uid=1)).variables
    await r.router.log.flush()
    await r.router.on_outcome(missed("+79161234500", "c.1", v1["ROUTE_DECISION"]))
    [task] = await fu.worklist()
    assert (task["priority"], task["owner"]) == ("0", "sales-lead")
    await fu.close(task["id"], "closed by hand: called back, voicemail")
    clock.advance(20 * 60)
    v2 = (await call(r.agi.port, "+79161234500", uid=2)).variables
    assert (v2["ROUTE_CALLER_KIND"], v2["ROUTE_RULE"]) == ("repeat", "prospects stay prospects")
    await r.router.log.flush()
    await r.router.on_outcome(missed("+79161234500", "c.2", v2["ROUTE_DECISION"]))
    [task] = await fu.worklist()
    assert (task["priority"], task["owner"]) == ("0", "sales-lead"), "not priority 4 for `duty`"
    await store.record_outcome(answered("+79161234500", direction="outbound"))
    clock.advance(20 * 60)
    v3 = (await call(r.agi.port, "+79161234500", uid=3)).variables
    assert v3["ROUTE_RULE"] == "everyone else", "a conversation was answered: no longer a prospect"


async def test_a_known_caller_who_chooses_new_connection_becomes_a_prospect(serve, store):
    rules = compiled(TYPED_RULES.replace('"88006008200": support', '"88006008208": new_connection'))
    await store.put_customers([("+79035550103", {"name": "known"})])
    clock = Clock(MONDAY_10)
    r = await serve(rules, clock)
    v = (await call(r.agi.port, "+79035550103", uid=1, dnid="88006008208")).variables
    assert v["ROUTE_RULE"] == "everyone else"
    await r.router.log.flush()
    assert (await store.r.hget(store.k.state("+79035550103"), "prospect")) == "1"
    clock.advance(600)
    assert (await call(r.agi.port, "+79035550103", uid=2)).variables["ROUTE_RULE"] == "prospects stay prospects"
