"""Replay: a logged day decided again by other rules — real FastAGI calls, real Redis, the log as written."""

from __future__ import annotations

import json
import subprocess

import pytest

from router.asterisk.callsim import call
from router.core.decide import decide
from router.core.identify import profile
from router.core.phones import normalise
from router.core.replay import Replay
from router.core.replayrecord import inputs
from router.core.snapshot import Seen, Snapshot
from router.replaying import replay_days
from router.risk.events import parse_batch
from router.state.decisionlog import entry
from tests.helpers import (
    DAY,
    HOUR,
    MONDAY,
    MONDAY_9,
    ROUTER_CMD,
    Clock,
    answered_by,
    compiled,
    http_get,
    missed,
    router_env,
)
from tests.helpers import RULES_TEXT as SUITE_RULES

RULES_TEXT = SUITE_RULES.replace("""rules:
  - name: night in the caller's zone
    when: {local_hours: "00:00-06:00", known: true}
    route: [night_duty, support]
""", """rules:
  - name: new connection chosen in the IVR
    when: {choice: new-connection}
    route: [new_connection]
  - name: retention for customers at risk
    when: {risk: at_risk}
    route: [management]
  - name: night in the caller's zone
    when: {local_hours: "00:00-06:00", known: true}
    route: [night_duty, support]
  - name: third call this week
    when: {calls_within: {days: 7, at_least: 3}}
    route: [operators]
  - name: back to the agent who answered
    when: {has_last_agent: true, abc: B}
    route: [last_agent, support]
""").replace("""  - name: B customers, busy manager goes down
    when: {abc: B, has_manager: true}
    route: [manager]
""", """  - name: B customers under retention
    when: {abc: B, strategy: retention}
    route: [manager, support]
""") + """\
risk:
  levels: {watch: 2, at_risk: 4}
  signals:
    low_rating: {rating: {at_most: 2, days: 30}, weight: 4}
"""
RULES = compiled(RULES_TEXT)

A1, A2, B1, B2, B3 = "+79035550101", "+79035550102", "+79035550201", "+79035550202", "+79035550203"
C1, C2, C3 = "+79035550301", "+79035550302", "+79035550303"
FAR_EAST = "+74232123456"  # a Vladivostok fixed line: its own zone, 7 hours ahead of Moscow
RISKY = "+79161230001"
CUSTOMERS = [(A1, {"abc": "A", "manager": "ivanov"}), (A2, {"abc": "A", "manager": "petrova"}),
             (B1, {"abc": "B", "manager": "ivanov"}), (B2, {"abc": "B", "manager": "petrova"}),
             (B3, {"abc": "B", "manager": "petrova"}), (C1, {"abc": "C"}), (C2, {"abc": "C"}), (C3, {"abc": "C"}),
             (FAR_EAST, {"abc": "B", "name": "Vladivostok office"}),
             (RISKY, {"abc": "A", "manager": "petrova"})]


async def a_logged_day(serve, store) -> tuple:
    """A Monday of calls through real FastAGI: customers of each class, busy managers, the strategy switched at
    noon, a repeat caller, a third call in a week, a last agent, a risky customer, an IVR choice, a night call in
    the caller's zone and strangers. Returns the running router, its clock and the day's log entries by id."""
    await store.put_customers(CUSTOMERS)
    clock = Clock(MONDAY_9)
    r = await serve(RULES, clock)
    await store.record_outcome(answered_by(B2, "PJSIP/101", MONDAY_9 - 2 * DAY))
    for days_ago in (5, 3):  # two calls earlier this week: the third today
        await store.record_outcome(missed(C2, linkedid=f"old{days_ago}", ended_at=MONDAY_9 - days_ago * DAY))
        await store.r.zadd(store.k.inbound(C2), {f"old{days_ago}": MONDAY_9 - days_ago * DAY})
    batch = parse_batch([{"id": "rate-1", "number": RISKY, "kind": "rating", "at": MONDAY_9 - DAY, "value": 1}],
                        RULES.rs.risk, RULES.company_zone, RULES.region, MONDAY_9)
    await r.router.risk.add(batch.events, now=MONDAY_9)
    uid = 0

    async def ring(number: str, **kw) -> None:
        nonlocal uid
        uid += 1
        await call(r.agi.port, number, uid=uid, **kw)
        clock.advance(7 * 60)

    for number in (A1, A2, B1, B2, C1, C2, RISKY, "+79161110000", "+79161110001"):
        await ring(number)
    await store.set_device_state("PJSIP/101", "INUSE")  # ivanov on the phone: his A customer goes up
    for number in (A1, B1, A2, C1):
        await ring(number)  # A1, C1 again within the hour: repeat callers
    await ring("+79161110002", args=("choice=new-connection",))
    clock.t = MONDAY_9 + 3 * HOUR
    await r.router.set_strategy("retention", "head of sales")
    for number in (B1, B2, B3, A1, "+79161110003"):
        await ring(number)
    await store.set_device_state("PJSIP/101", "NOT_INUSE")
    await store.set_device_state("PJSIP/102", "INUSE")
    for number in (B2, A2, C2, B3, C3):
        await ring(number)
    clock.t = MONDAY_9 + 11 * HOUR + 30 * 60  # 20:30 in Moscow, 03:30 in Vladivostok
    await ring(FAR_EAST)
    await ring("")  # a withheld number
    await r.router.log.flush()
    logged = {}
    async for chunk in store.decisions_of(MONDAY):
        logged.update((e["id"], e) for e in chunk)
    return r, clock, logged


async def test_a_day_replayed_on_its_own_rules_changes_nothing(serve, store):
    _, _, logged = await a_logged_day(serve, store)
    rules_seen = {e["rule"] for e in logged.values()}
    assert {"A customers reach their manager", "B customers under retention", "repeat callers",
            "third call this week", "back to the agent who answered", "retention for customers at risk",
            "new connection chosen in the IVR", "night in the caller's zone", "new prospects",
            "C customers serve themselves", "everyone else"} <= rules_seen, "the day exercises every rule"
    assert any(e.get("escalated") for e in logged.values()), "a busy manager's call went up"
    assert any(e["seen"].get("sg") == "retention" for e in logged.values())
    assert any(e["seen"].get("b") == ["PJSIP/101"] for e in logged.values())

    assert 89 * DAY < await store.r.ttl(store.k.decisions_day(MONDAY)) <= 90 * DAY, "kept report.keep_calls"

    replay = await replay_days(store, RULES, [MONDAY])
    assert (replay.calls, replay.unchanged, replay.changed, replay.no_record) == (len(logged), len(logged), 0, 0)
    assert not replay.inexact
    assert sum(replay.matched.values()) == len(logged)


async def test_a_changed_rule_moves_exactly_the_calls_it_decided(serve, store):
    _, _, logged = await a_logged_day(serve, store)
    new = compiled(RULES_TEXT.replace("route: [self_service]", "route: [operators]"))
    c_calls = {i for i, e in logged.items() if e["rule"] == "C customers serve themselves"}
    assert len(c_calls) >= 2

    replay = await replay_days(store, new, [MONDAY])
    report = replay.as_dict()
    assert report["changed"] == report["elsewhere"] == len(c_calls)
    [by_rule] = report["by_rule"]
    assert (by_rule["from"], by_rule["to"], by_rule["count"]) == ("C customers serve themselves",) * 2 + (
        len(c_calls),)
    [by_first] = report["by_first_step"]
    assert (by_first["from"], by_first["to"]) == ("self_service", "operators")
    assert {x["id"] for x in by_first["examples"]} <= c_calls
    assert by_first["examples"][0]["old"]["chain"] == "ivr self-service"
    assert by_first["examples"][0]["new"]["chain"] == "queue operators"


async def test_a_new_rule_ahead_takes_its_calls_and_the_rule_they_left_is_named(serve, store):
    _, _, logged = await a_logged_day(serve, store)
    vip = RULES_TEXT.replace("rules:\n", "rules:\n  - name: B customers to petrova\n    when: {abc: B}\n"
                                         "    route: [petrova]\n", 1)
    b_calls = {i for i, e in logged.items() if e["seen"].get("cu", {}).get("abc") == "B"}
    replay = (await replay_days(store, compiled(vip), [MONDAY])).as_dict()
    moved = {x["from"]: x["count"] for x in replay["by_rule"]}
    assert all(x["to"] == "B customers to petrova" for x in replay["by_rule"])
    unchanged_b = sum(1 for i in b_calls if logged[i]["steps"][0]["dest"] == "PJSIP/102"
                      and len(logged[i]["steps"]) == 1 and logged[i]["rule"] == "B customers to petrova")
    assert sum(moved.values()) == len(b_calls) - unchanged_b


async def test_missed_calls_the_new_rules_send_to_someone_free(serve, store):
    _, _, logged = await a_logged_day(serve, store)
    repeats = [e for e in logged.values() if e["rule"] == "repeat callers"]
    for n, e in enumerate(repeats):
        await store.record_outcome(missed(e["caller"]["number"], linkedid=f"rep{n}", decision=e["id"],
                                          ended_at=e["at"] + 20))
    to_night_duty = compiled(RULES_TEXT.replace("route: [operators]\n  - name: new prospects",
                                                "route: [night_duty]\n  - name: new prospects"))
    replay = (await replay_days(store, to_night_duty, [MONDAY])).as_dict()
    assert replay["missed_to_free"]["count"] == len(repeats) >= 2
    assert replay["missed_to_free"]["examples"][0]["new"]["chain"] == "dial PJSIP/900"

    await store.set_device_state("PJSIP/900", "INUSE")  # busy now: replay still sees it as it was then
    again = (await replay_days(store, to_night_duty, [MONDAY])).as_dict()
    assert again["missed_to_free"]["count"] == len(repeats)


def test_a_record_gives_back_the_inputs_the_call_was_decided_from():
    number = normalise("+74232123456")
    snap = Snapshot({"abc": "B", "manager": "ivanov"}, {"in": "1795400000.5", "agent": "PJSIP/101",
                                                        "agent_at": "1795300000", "miss": "1"},
                    [1795400000.5], None, frozenset({"PJSIP/101", "PJSIP/900"}), strategy="retention",
                    risk={"hits": "[]", "level": "none"})
    now = 1795410000.25
    caller = profile(number, "+74232123456", "", "88006008208", snap, RULES.rs, now, choice="new-connection")
    d = decide(RULES, caller, snap.busy, now)
    d.seen = Seen(number, snap, RULES.calls_window)
    logged = json.loads(json.dumps(entry(d, {"agi_callerid": "+74232123456", "agi_uniqueid": "1.1"})))
    assert "miss" not in logged["seen"]["st"], "only what profile reads"
    back = inputs(logged)
    assert back is not None and back.number == number and back.dnid == "88006008208"
    assert back.choice == "new-connection" and back.snapshot.busy == snap.busy and back.now == now
    replay = Replay(RULES)
    replay.add(logged)
    assert (replay.calls, replay.unchanged) == (1, 1)


@pytest.mark.slow
async def test_the_command_exits_0_unchanged_1_changed_2_on_errors(serve, store, redis_url, tmp_path):
    await a_logged_day(serve, store)
    same, changed = tmp_path / "same.yaml", tmp_path / "changed.yaml"
    same.write_text(RULES_TEXT)
    changed.write_text(RULES_TEXT.replace("route: [self_service]", "route: [operators]"))
    env = router_env(ROUTER_STORE=redis_url)

    def replay(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*ROUTER_CMD, "replay", "--prefix", store.k.prefix, *args], env=env,
                              capture_output=True, text=True, timeout=60)

    res = replay("--rules", str(same), "--day", MONDAY)
    assert res.returncode == 0, res.stderr
    assert "nothing would change" in res.stdout
    res = replay("--rules", str(changed), "--day", MONDAY)
    assert res.returncode == 1, res.stderr
    assert "C customers serve themselves → C customers serve themselves" in res.stdout
    assert "self_service → operators" in res.stdout
    res = replay("--rules", str(changed), "--from", MONDAY, "--to", MONDAY, "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["changed"] >= 2
    res = replay("--rules", str(tmp_path / "absent.yaml"), "--day", MONDAY)
    assert res.returncode == 2 and "cannot read" in res.stderr
    res = replay("--rules", str(same), "--day", "23.11.2026")
    assert res.returncode == 2 and "YYYY-MM-DD" in res.stderr
    assert not await store.r.exists(store.k.rule_hits("2026-11-24")), "nothing written"


async def test_a_call_logged_without_a_record_is_counted_as_not_replayed(store):
    old = {"id": "1a2070000000000001beef", "at": MONDAY_9, "rule": "everyone else", "type": "", "priority": 0,
           "fallback": False, "steps": [{"type": "queue", "dest": "support", "timeout": 120, "name": "support"}],
           "caller": {"number": "+79161110000", "kind": "known"}, "reasons": []}
    await store.append_decisions([old])
    replay = await replay_days(store, RULES, [MONDAY])
    assert (replay.calls, replay.no_record, replay.changed) == (1, 1, 0)


async def test_the_api_replays_the_rule_file_as_it_is_now_and_says_what_it_cannot_do(serve, store, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_TEXT)
    r = await serve(RULES, Clock(MONDAY_9), rules_path=path)
    for uid, number in enumerate(("+79161110000", "+79161110001"), 1):
        await call(r.agi.port, number, uid=uid)
    await r.router.log.flush()
    path.write_text(RULES_TEXT.replace("route: [new_connection]\n  - name: C", "route: [support]\n  - name: C"))

    status, body = await http_get(r.http_port, f"/api/replay?day={MONDAY}")
    assert status == 200 and (body["calls"], body["changed"], body["rules"]) == (2, 2, "file")
    assert body["by_rule"][0]["from"] == body["by_rule"][0]["to"] == "new prospects"
    status, body = await http_get(r.http_port, f"/api/replay?day={MONDAY}&rules=current")
    assert status == 200 and body["changed"] == 0
    assert (await http_get(r.http_port, f"/api/replay?day={MONDAY}&rules=staged"))[0] == 409
    assert (await http_get(r.http_port, "/api/replay?day=23.11.2026"))[0] == 400
    assert (await http_get(r.http_port, "/api/replay?from=2026-01-01&to=2026-11-23"))[0] == 400
    assert (await http_get(r.http_port, "/api/coverage?days=40"))[0] == 400
    status, body = await http_get(r.http_port, "/api/coverage?days=1")
    assert status == 200 and body["days"] == [MONDAY], "today by the router's clock"
    assert {x["name"]: x["counted"] for x in body["rules"]}["new prospects"] == 2
