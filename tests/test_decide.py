from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

import router.core
from router.core.conditions import holds
from router.core.decide import decide
from router.core.identify import profile
from router.core.phones import normalise
from router.core.snapshot import Snapshot
from tests.helpers import MONDAY_10, MSK, compiled

RULES = compiled("""
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  new_connection: {queue: new-connection, priority: 10, timeout: 60}
  support:        {queue: support, timeout: 120, down: operators}
  operators:      {queue: operators, timeout: 60}
  management:     {dial: PJSIP/500, timeout: 30, up: director}
  director:       {dial: PJSIP/501, timeout: 30}
  night_duty:     {dial: PJSIP/900, timeout: 30}
  self_service:   {ivr: self-service}
managers:
  ivanov: {endpoint: PJSIP/101, up: management, down: operators, timeout: 20}
  sidorov: {endpoint: PJSIP/103, state: "Custom:sidorov", up: management}
rules:
  - name: night
    when: {local_hours: "22:00-07:00", not: {abc: C}}
    route: [night_duty]
  - name: A to manager
    when: {abc: A, has_manager: true}
    route: [manager, support]
    escalate: up
  - name: B to manager, busy goes down
    when: {abc: B}
    route: [manager, support]
    escalate: down
  - name: unhappy
    when: {calls_within: {days: 7, at_least: 3}}
    route: [support]
    priority: 7
  - name: new
    when: {kind: new}
    route: [new_connection]
  - name: office hours weekdays
    when: {hours: "09:00-18:00", days: [mon, tue, wed, thu, fri], abc: C}
    route: [self_service]
  - name: either partner line
    when: {any: [{dnid: "111"}, {dnid: "222", abc: B}], all: [{kind: [known, repeat]}]}
    route: [operators]
  - name: sales line
    when: {dnid: "4951112233"}
    route: [operators]
  - name: regional or vip without a manager
    when: {any: [{prefix: ["+7423", "+79161"]}, {tags: [vip]}], has_manager: false}
    route: [operators]
fallback: [support]
""")


def caller(number="+79035550101", customer=None, last=None, inbound=(), numbering=None, now=MONDAY_10, dnid=""):
    snap = Snapshot(customer or {}, last or {}, list(inbound), numbering, frozenset())
    return profile(normalise(number, "RU"), number, "", dnid, snap, RULES.rs, now)


def chain(d):
    return [(s.type, s.dest) for s in d.steps]


def test_a_customer_reaches_personal_manager_then_support():
    d = decide(RULES, caller(customer={"abc": "A", "manager": "ivanov"}), frozenset(), MONDAY_10)
    assert (d.rule, chain(d)) == ("A to manager", [("dial", "PJSIP/101"), ("queue", "support")])
    assert "abc=A, manager=ivanov" in d.reasons


def test_busy_manager_escalates_up():
    d = decide(RULES, caller(customer={"abc": "A", "manager": "ivanov"}), frozenset({"PJSIP/101"}), MONDAY_10)
    assert chain(d) == [("dial", "PJSIP/500"), ("queue", "support")]
    assert "manager ivanov busy → escalated up to management" in d.reasons


def test_escalation_walks_past_busy_heads():
    d = decide(RULES, caller(customer={"abc": "A", "manager": "ivanov"}),
               frozenset({"PJSIP/101", "PJSIP/500"}), MONDAY_10)
    assert chain(d)[0] == ("dial", "PJSIP/501")


def test_escalation_with_every_head_busy_rings_the_manager_anyway():
    d = decide(RULES, caller(customer={"abc": "A", "manager": "ivanov"}),
               frozenset({"PJSIP/101", "PJSIP/500", "PJSIP/501"}), MONDAY_10)
    assert chain(d)[0] == ("dial", "PJSIP/101")
    assert any("ringing it anyway" in r for r in d.reasons)


def test_busy_manager_escalates_down_when_the_rule_says_down():
    d = decide(RULES, caller(customer={"abc": "B", "manager": "ivanov"}), frozenset({"PJSIP/101"}), MONDAY_10)
    assert chain(d) == [("queue", "operators"), ("queue", "support")]


def test_state_device_decides_busy_not_the_endpoint():
    c = caller(customer={"abc": "A", "manager": "sidorov"})
    assert chain(decide(RULES, c, frozenset({"PJSIP/103"}), MONDAY_10))[0] == ("dial", "PJSIP/103")
    assert chain(decide(RULES, c, frozenset({"Custom:sidorov"}), MONDAY_10))[0] == ("dial", "PJSIP/500")


def test_manager_step_is_skipped_without_a_manager():
    d = decide(RULES, caller(customer={"abc": "B"}), frozenset(), MONDAY_10)
    assert chain(d) == [("queue", "support")]
    assert "no personal manager → step skipped" in d.reasons


def test_manager_unknown_to_the_rules_is_skipped_with_a_reason():
    d = decide(RULES, caller(customer={"abc": "B", "manager": "ghost"}), frozenset(), MONDAY_10)
    assert chain(d) == [("queue", "support")]
    assert any("'ghost' is not in the rule file" in r for r in d.reasons)


def test_new_caller_gets_new_connection_with_its_priority():
    d = decide(RULES, caller("+79161234500"), frozenset(), MONDAY_10)
    assert (d.rule, chain(d), d.priority) == ("new", [("queue", "new-connection")], 10)


def test_rule_priority_overrides_the_target_priority():
    now = MONDAY_10
    c = caller(customer={"name": "x"}, inbound=[now - 86400, now - 2 * 86400])
    d = decide(RULES, c, frozenset(), now)
    assert (d.rule, d.priority) == ("unhappy", 7)


def test_third_call_in_a_week_matches_calls_within():
    now = MONDAY_10
    assert decide(RULES, caller(customer={"name": "x"}, inbound=[now - 86400]), frozenset(), now).rule != "unhappy"


def test_caller_local_night_picks_the_night_rule():
    far_east = {"name": "Port", "abc": "B"}
    assert decide(RULES, caller("+74232123456", far_east), frozenset(), MONDAY_10).rule != "night"
    evening = datetime(2026, 11, 23, 19, 30, tzinfo=MSK).timestamp()  # 02:30 in Vladivostok
    at_night = caller("+74232123456", far_east, now=evening)
    d = decide(RULES, at_night, frozenset(), evening)
    assert (at_night.local.hour, d.rule) == (2, "night")
    assert any("caller's local time 02:30 Asia/Vladivostok in 22:00-07:00" in r for r in d.reasons)


def test_moscow_caller_at_the_same_moment_is_not_at_night():
    moment = datetime(2026, 11, 23, 1, 0, tzinfo=ZoneInfo("Asia/Vladivostok")).timestamp()  # 18:00 Moscow
    d = decide(RULES, caller("+74951234567", {"abc": "B"}, now=moment), frozenset(), moment)
    assert d.rule != "night"
    d2 = decide(RULES, caller("+74232123456", {"abc": "B"}, now=moment), frozenset(), moment)
    assert d2.rule == "night"


def test_not_condition_excludes_c_customers_at_night():
    night = datetime(2026, 11, 23, 23, 30, tzinfo=MSK).timestamp()
    d = decide(RULES, caller(customer={"abc": "C"}, now=night), frozenset(), night)
    assert d.rule != "night"


def test_company_hours_and_days():
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=MSK).timestamp()
    c_customer = {"abc": "C"}
    assert decide(RULES, caller(customer=c_customer), frozenset(), MONDAY_10).rule == "office hours weekdays"
    sat = decide(RULES, caller(customer=c_customer, now=saturday), frozenset(), saturday)
    assert sat.rule == "fallback" and sat.fallback


def test_dnid_condition():
    d = decide(RULES, caller(customer={"abc": "B", "manager": ""}, dnid="4951112233"), frozenset(), MONDAY_10)
    assert d.rule == "B to manager, busy goes down"
    d2 = decide(RULES, caller(customer={"name": "x"}, dnid="4951112233"), frozenset(), MONDAY_10)
    assert d2.rule == "sales line"


def test_no_matching_rule_gives_fallback_chain():
    d = decide(RULES, caller(customer={"name": "plain"}), frozenset(), MONDAY_10)
    assert (d.rule, chain(d), d.fallback) == ("fallback", [("queue", "support")], True)


def test_decide_is_deterministic():
    c = caller(customer={"abc": "A", "manager": "ivanov"})
    a = decide(RULES, c, frozenset({"PJSIP/101"}), MONDAY_10)
    b = decide(RULES, c, frozenset({"PJSIP/101"}), MONDAY_10)
    assert (a.rule, a.steps, a.reasons, a.priority) == (b.rule, b.steps, b.reasons, b.priority)


def test_pure_core_imports_no_io():
    """Every module of router.core: no network, no clock, no other layer of the router."""
    forbidden = {"asyncio", "socket", "redis", "aiohttp", "os", "time", "panoramisk"}
    layers = ("router.state", "router.asterisk", "router.web", "router.followups", "router.directory", "router.cli")
    for path in sorted(Path(router.core.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not names & forbidden, f"{path.name} imports {names & forbidden}"
        assert not [n for n in names if n.startswith(layers)], f"{path.name} imports {names}"
        if path.name != "rulefile.py":  # the one module that parses YAML text
            assert "yaml" not in names, path.name


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["new", "repeat", "callback", "returning", "known"]),
       abc=st.sampled_from(["", "A", "B", "C"]), manager=st.sampled_from(["", "ivanov", "sidorov"]),
       dnid=st.sampled_from(["", "4951112233", "88006008208", "111", "222"]), minutes=st.integers(0, 7 * 24 * 60),
       number=st.sampled_from(["+79035550101", "+74232123456", "+79161234500"]),
       tags=st.sampled_from(["", "vip", "vip;x", "x"]), calls=st.integers(0, 4))
def test_rule_index_picks_the_same_rule_as_evaluating_every_rule(kind, abc, manager, dnid, minutes, number, tags,
                                                                 calls):
    now = MONDAY_10 + minutes * 60
    customer = {k: v for k, v in (("abc", abc), ("manager", manager), ("tags", tags)) if v} or {"name": "x"}
    c = caller(number, customer=customer, dnid=dnid, now=now, inbound=[now - 3600 * (i + 1) for i in range(calls)])
    c.kind = kind
    m = RULES.moment(c, now)
    first = next((r.name for r in RULES.rules if holds(r.checks, c, m)), "fallback")
    assert decide(RULES, c, frozenset(), now).rule == first


def test_rules_are_indexed_by_what_they_require():
    names = [r.name for r in RULES.rules]
    either = RULES.index.needs[names.index("either partner line")]
    assert [a.dnids for a in either.alternatives] == [{"111"}, {"222"}] and either.also[0].kinds == {"known", "repeat"}
    assert RULES.index.needs[names.index("new")].kinds == {"new"}
    by_name = dict(zip(names, RULES.rules, strict=True))
    assert by_name["either partner line"] in RULES.candidates(caller(customer={"abc": "B", "manager": "x"}, dnid="222"))
    assert by_name["either partner line"] not in RULES.candidates(caller(customer={"abc": "B"}, dnid="4951112233"))
    assert by_name["unhappy"] not in RULES.candidates(caller(customer={"abc": "B"}))
    assert by_name["unhappy"] in RULES.candidates(caller(customer={"abc": "B"}, inbound=[MONDAY_10 - 60] * 2))
