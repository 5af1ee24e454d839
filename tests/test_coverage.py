"""Coverage: rules that never decide a call, and rules an earlier rule shadows — from the file and from the log."""

from __future__ import annotations

import subprocess

import pytest

from router.asterisk.callsim import call
from router.core.coverage import implies, shadowed
from router.core.rulefile import load_rules_text
from router.replaying import coverage_of
from tests.helpers import BASE_RULES, MONDAY, MONDAY_10, ROUTER_CMD, Clock, compiled, router_env


def when(text: str):
    """The `when:` of a one-rule file."""
    return load_rules_text(BASE_RULES.replace("when: {abc: A}", f"when: {text}")).rules[0].when


@pytest.mark.parametrize(("later", "earlier"), [
    ("{abc: A, has_manager: true}", "{abc: [A, B]}"),
    ("{kind: repeat, tags: [vip]}", "{kind: [repeat, callback]}"),
    ('{hours: "10:00-12:00"}', '{hours: "09:00-18:00"}'),
    ('{local_hours: "23:00-01:00"}', '{local_hours: "22:00-07:00"}'),
    ("{calls_within: {days: 3, at_least: 5}}", "{calls_within: {days: 7, at_least: 3}}"),
    ('{prefix: ["+74232"]}', '{prefix: ["+7423", "+7495"]}'),
    ("{crm: {status: [debtor]}, abc: C}", "{crm: {status: [debtor, blocked]}}"),
    ("{abc: A}", "{any: [{abc: A}, {kind: new}]}"),
])
def test_a_rule_asking_for_no_caller_an_earlier_one_does_not_take_is_shadowed(later, earlier):
    assert implies(when(later), when(earlier))
    assert not implies(when(earlier), when(later))


@pytest.mark.parametrize(("later", "earlier"), [
    ("{abc: A}", "{has_manager: true}"),  # other keys: not proved, so not claimed
    ('{hours: "08:00-10:00"}', '{hours: "09:00-18:00"}'),
    ("{calls_within: {days: 14, at_least: 3}}", "{calls_within: {days: 7, at_least: 3}}"),
    ("{abc: A}", "{not: {abc: B}}"),
    ("{has_manager: false}", "{has_manager: true}"),
])
def test_what_cannot_be_proved_is_not_called_shadowed(later, earlier):
    assert not implies(when(later), when(earlier))


def test_a_rule_without_conditions_shadows_every_rule_after_it():
    rs = load_rules_text(BASE_RULES.replace("fallback:", """  - name: late new callers
    when: {kind: new}
    route: [support]
  - name: late A customers
    when: {abc: A, has_manager: true}
    route: [support]
fallback:"""))
    assert shadowed(rs) == {"late new callers": "everyone else", "late A customers": "A customers"}


RULES_TEXT = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  support: {queue: support}
  vip:     {queue: vip}
  sales:   {queue: sales}
rules:
  - name: A customers
    when: {abc: A}
    route: [vip]
  - name: tagged vip
    when: {tags: [vip]}
    route: [vip]
  - name: A customers again
    when: {abc: A, kind: known}
    route: [support]
  - name: night line
    when: {dnid: ["88000000000"]}
    route: [sales]
  - name: everyone else
    route: [support]
fallback: [support]
"""
"""`tagged vip` holds only for A customers in the log (shadowed on the calls, not provably); `A customers
again` is shadowed by the file itself; nobody dials the night line."""


async def logged_calls(serve, store) -> None:
    await store.put_customers([("+79035550101", {"abc": "A", "tags": "vip"}), ("+79035550102", {"abc": "A"}),
                               ("+79035550201", {"abc": "B"})])
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RULES_TEXT), clock)
    for uid, number in enumerate(("+79035550101", "+79035550102", "+79035550201", "+79161110000",
                                  "+79035550101"), 1):
        await call(r.agi.port, number, uid=uid)
        clock.advance(600)
    await r.router.log.flush()


async def test_coverage_names_the_rules_that_never_decided_and_the_shadowed_ones(serve, store):
    await logged_calls(serve, store)
    found = await coverage_of(store, compiled(RULES_TEXT), [MONDAY])
    rows = {r["name"]: r for r in found["rules"]}
    assert {n: r["counted"] for n, r in rows.items()} == {"A customers": 3, "tagged vip": 0, "A customers again": 0,
                                                          "night line": 0, "everyone else": 2}
    assert found["never_counted"] == ["tagged vip", "A customers again", "night line"]
    assert found["shadowed"] == [{"rule": "A customers again", "by": "A customers"}]
    assert found["shadowed_on_calls"] == [{"rule": "tagged vip", "held": 2, "taken_by": {"A customers": 2}},
                                          {"rule": "A customers again", "held": 2,  # the third is a repeat
                                           "taken_by": {"A customers": 2}}]
    assert rows["night line"]["held"] == 0, "never asked for: dead, but not shadowed"


@pytest.mark.slow
async def test_router_check_coverage_prints_them(serve, store, redis_url, tmp_path):
    await logged_calls(serve, store)
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_TEXT)
    res = subprocess.run([*ROUTER_CMD, "check", str(path), "--coverage", "--days", "30", "--prefix",
                          store.k.prefix], env=router_env(ROUTER_STORE=redis_url), capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"{path}: rule 'A customers again' can never match: 'A customers' comes first" in out
    assert "0        0  night line  — never matched" in out
    assert "tagged vip  — never matched; held for 2 logged calls, all taken by 'A customers' (2)" in out
