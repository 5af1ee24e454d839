"""The whisper: the rule file's prefix before the caller's name on the ringing phone, set in the router's
one `EXEC MSet` (CALLERID(name)), the trunk's name kept in ROUTE_CALLER_NAME; read back over real FastAGI."""

from __future__ import annotations

from router.asterisk.callsim import call
from router.core.whisper import MAX_BYTES, bounded
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, compiled, problems

WHISPER = """
people:
  whisper_max: 24
  whisper:
    - {when: {abc: A}, text: "[{abc}]"}
    - {when: {kind: new}, text: "[new]"}
    - {when: {kind: repeat}, text: "[repeat]"}
    - {when: {calls_within: {days: 1, at_least: 3}}, text: "[3rd call]"}
"""


async def test_an_a_customer_is_announced_and_the_trunks_name_is_kept(serve, store):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Ольга Петровна"})])
    r = await serve(compiled(RULES_TEXT + WHISPER), Clock(MONDAY_10))
    res = await call(r.agi.port, "+79035550101", "OLGA P")
    v = res.variables
    assert v["CALLERID(name)"] == "[A] Ольга Петровна", "the directory's name, Cyrillic whole"
    assert v["ROUTE_CALLER_NAME"] == "OLGA P"
    assert sum(c.startswith("EXEC MSet") for c in res.commands) == 1, "still one AGI command"


async def test_nothing_is_set_when_no_part_holds_or_none_is_configured(serve, store):
    await store.put_customers([("+79035550103", {"abc": "B", "name": "Pavel"})])
    r = await serve(compiled(RULES_TEXT + WHISPER), Clock(MONDAY_10))
    v = (await call(r.agi.port, "+79035550103", "Pavel")).variables
    assert "CALLERID(name)" not in v and "ROUTE_CALLER_NAME" not in v
    plain = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    v = (await call(plain.agi.port, "+79990001122", "Someone")).variables
    assert "CALLERID(name)" not in v


async def test_a_third_call_today_and_a_hostile_name_stay_text_within_the_bound(serve):
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RULES_TEXT + WHISPER), clock)
    hostile = 'Bob",x=1)\\(Hangup'
    names = []
    for uid in (1, 2, 3):
        res = await call(r.agi.port, "+79991112233", hostile, uid=uid)
        names.append(res.variables["CALLERID(name)"])
        clock.advance(60)
    assert names[0] == "[new] " + hostile, "the caller's text arrives as it was sent, nothing executed"
    assert names[2].startswith("[repeat][3rd call]") and len(names[2]) == 24


async def test_asked_again_from_an_ivr_the_first_whisper_stays(serve, store):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Olga"})])
    r = await serve(compiled(RULES_TEXT + WHISPER), Clock(MONDAY_10))
    v = (await call(r.agi.port, "+79035550101", "[A] Olga", args=("choice=new-connection",))).variables
    assert "CALLERID(name)" not in v


def test_the_bound_cuts_between_letters_and_within_the_bytes_a_sip_display_name_carries():
    assert bounded("[A]  Ёжиков   Пётр", 10) == "[A] Ёжиков"
    long = bounded("Щ" * 80, 80)
    assert len(long.encode()) <= MAX_BYTES and set(long) == {"Щ"}


def test_a_whisper_condition_is_checked_like_a_rules():
    found = problems(RULES_TEXT + "people:\n  whisper:\n    - {when: {manager: [ivanof]}, text: x}\n")
    assert any("people.whisper[0].when.manager" in p or "unknown manager 'ivanof'" in p for p in found), found
