"""Customer events and churn-risk signals: the rule section, the stored state, routing at ring time."""

from __future__ import annotations

import json
import subprocess
import time

import aiohttp
import pytest

from router.asterisk.callsim import call
from router.core.risk import Event, RiskSettings, evaluate, level_of, live_hits
from router.core.rulefile import RuleFileError, load_rules, load_rules_text
from router.risk.events import parse_batch, read_csv
from tests.helpers import (
    DAY,
    MONDAY_10,
    MSK,
    RISK_NUMBER,
    RISK_RULES_TEXT,
    ROUTER_CMD,
    RULES_DIR,
    Clock,
    compiled,
    missed,
    router_env,
)


def settings() -> RiskSettings:
    return load_rules_text(RISK_RULES_TEXT).risk


def call_at(t: float, i: int, type_: str = "support") -> Event:
    return Event(f"c{i}", "call", t, type=type_, direction="inbound", result="answered")


def test_third_support_call_in_a_week_and_a_visit_make_at_risk():
    rs = settings()
    now = MONDAY_10
    events = [call_at(now - 6 * DAY, 1), call_at(now - 3 * DAY, 2), call_at(now - DAY, 3),
              call_at(now - 2 * DAY, 4, "billing"), Event("v1", "technician_visit", now - 5 * DAY)]
    hits = evaluate(rs, events, 0, now, MSK)
    assert [(h.name, h.weight) for h in hits] == [("repeat_support_calls", 3), ("technician_visit", 2)]
    assert hits[0].text == "3 support calls in 7 days"
    assert hits[0].until == now - 6 * DAY + 7 * DAY, "holds until the oldest of the three leaves the window"
    assert hits[1].text == "technician_visit on 2026-11-18"
    assert level_of(rs, sum(h.weight for h in hits)) == "at_risk"


def test_stored_hits_expire_at_ring_time_without_a_recompute():
    rs = settings()
    events = [call_at(MONDAY_10 - 6 * DAY, 1), call_at(MONDAY_10 - 3 * DAY, 2), call_at(MONDAY_10 - DAY, 3),
              Event("r1", "rating", MONDAY_10 - DAY, "2")]
    stored = json.dumps([h.as_dict() for h in evaluate(rs, events, 0, MONDAY_10, MSK)])
    assert [h.name for h in live_hits(stored, MONDAY_10 + 0.5 * DAY)] == ["repeat_support_calls", "low_rating"]
    assert [h.name for h in live_hits(stored, MONDAY_10 + 1.5 * DAY)] == ["low_rating"]


def test_rating_above_the_threshold_and_old_events_do_not_count():
    rs = settings()
    events = [Event("r1", "rating", MONDAY_10 - DAY, "3"), Event("r2", "rating", MONDAY_10 - 40 * DAY, "1"),
              Event("s1", "issue_solved", MONDAY_10 - DAY, "yes")]
    assert evaluate(rs, events, 0, MONDAY_10, MSK) == []
    assert [h.name for h in evaluate(rs, events, 2, MONDAY_10, MSK)] == ["waiting_for_us"]


def test_check_reports_risk_mistakes_with_file_and_line():
    text = RISK_RULES_TEXT.replace("kinds: [technician_visit]", "kinds: [technican_visit]") \
        .replace("risk_signal: [low_rating]", "risk_signal: [low_ratings]") \
        .replace("{at_most: 2, days: 30}", "{at_most: 7, days: 30}")
    with pytest.raises(RuleFileError) as e:
        load_rules_text(text, "r.yaml")
    found = [str(p) for p in e.value.problems]
    lines = text.splitlines()
    assert any(p.startswith("r.yaml:") and "at_most" in p and "less than or equal to 5" in p for p in found), found
    with pytest.raises(RuleFileError) as e:
        load_rules_text(text.replace("{at_most: 7, days: 30}", "{at_most: 2, days: 30}"), "r.yaml")
    found = sorted(str(p) for p in e.value.problems)
    visit_line = next(i for i, x in enumerate(lines, 1) if "technican_visit" in x)
    signal_line = next(i for i, x in enumerate(lines, 1) if "low_ratings" in x)
    assert any(p.startswith(f"r.yaml:{visit_line}:") and "unknown event kind 'technican_visit'" in p for p in found)
    assert any(p.startswith(f"r.yaml:{signal_line}:") and "unknown risk signal 'low_ratings'" in p for p in found)


def test_check_refuses_a_signal_looking_further_back_than_events_are_kept():
    with pytest.raises(RuleFileError, match="looks 30 days back but events are kept only 14 days"):
        load_rules_text(RISK_RULES_TEXT.replace("keep_events: 60d", "keep_events: 14d"))


def test_shipped_rules_use_every_risk_and_escalation_key():
    rs = load_rules(RULES_DIR)
    assert rs.risk.signals and rs.followup.escalate
    conditions = {k for s in rs.risk.signals.values() for k in ("calls", "events", "rating", "open_followup")
                  if getattr(s, k) is not None}
    assert conditions == {"calls", "events", "rating", "open_followup"}
    keys = {k for s in rs.risk.signals.values() for c in (s.calls, s.events, s.rating) if c is not None
            for k in c.model_fields_set}
    assert keys >= {"types", "direction", "result", "days", "at_least", "kinds", "value", "at_most"}
    assert any(lv.or_count and lv.sms_to for lv in rs.followup.escalate)
    whens = [r.when for r in rs.rules if r.when is not None]
    assert any(w.risk for w in whens) and any(w.risk_signal for w in whens)


def test_event_batch_keeps_good_events_and_says_what_is_wrong_with_the_rest():
    rs = settings()
    batch = parse_batch([
        {"id": "e1", "number": "8 916 123-00-01", "kind": "rating", "at": "2026-11-22T12:00", "value": 2},
        {"id": "e2", "number": "+79161230001", "kind": "rating", "at": "2026-11-22T12:00", "value": 9},
        {"id": "e3", "number": "hello", "kind": "technician_visit", "at": MONDAY_10},
        {"id": "e4", "number": "+79161230001", "kind": "refund", "at": MONDAY_10},
        {"id": "", "number": "+79161230001", "kind": "session_drop", "at": MONDAY_10},
        {"id": "e6", "number": "+79161230001", "kind": "speed_complaint", "at": "yesterday"},
        {"id": "e7", "number": "+79161230001", "kind": "call", "at": MONDAY_10},
        {"id": "e8", "number": "+79161230001", "kind": "issue_solved", "at": MONDAY_10, "value": "No"},
    ], rs, MSK, "RU", MONDAY_10)
    assert [(n, e.id, e.value) for n, e in batch.events] == [(RISK_NUMBER, "e1", "2"), (RISK_NUMBER, "e8", "no")]
    assert batch.events[0][1].at == MONDAY_10 - 22 * 3600
    assert [p.split(":")[0] for p in batch.problems] == ["#1", "#2", "#3", "#4", "#5", "#6"]
    assert "rating's value is 1 to 5" in batch.problems[0] and "unknown kind 'refund'" in batch.problems[2]


def test_events_csv_reports_bad_rows_by_line(tmp_path):
    f = tmp_path / "events.csv"
    f.write_text("id,number,kind,at,value,note\n"
                 "v1,+79161230001,technician_visit,2026-11-20T09:00,,router replaced\n"
                 "v2,+79161230001,rating,2026-11-20T09:00,six,\n"
                 "v3,+79161230001,session_drop,2026-11-21T03:00,,\n")
    batch = read_csv(str(f), settings(), MSK, "RU", MONDAY_10)
    assert [e.id for _, e in batch.events] == ["v1", "v3"]
    assert batch.problems == [f"{f}:3: a rating's value is 1 to 5, not 'six'; row skipped"]


async def test_posted_events_are_idempotent_and_make_the_caller_risky_at_ring_time(serve, store):
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RISK_RULES_TEXT), clock)
    batch = [{"id": "rate-1", "number": RISK_NUMBER, "kind": "rating", "at": MONDAY_10 - DAY, "value": 1},
             {"id": "nope-1", "number": RISK_NUMBER, "kind": "issue_solved", "at": MONDAY_10 - DAY, "value": "no"}]
    url = f"http://127.0.0.1:{r.http_port}/api/events"
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"events": batch}) as resp:
            assert (resp.status, await resp.json()) == (200, {"received": 2, "new": 2, "repeated": 0,
                                                              "problems": []})
        async with s.post(url, json=batch) as resp:
            assert (await resp.json())["new"] == 0, "the same batch again counts once"
        async with s.post(url, json=[{"id": "x", "number": RISK_NUMBER, "kind": "rating", "at": MONDAY_10}]) as resp:
            assert resp.status == 422 and "rating's value" in (await resp.json())["problems"][0]
    assert await store.r.zcard(store.k.events(RISK_NUMBER)) == 2
    state = await store.r.hgetall(store.k.risk(RISK_NUMBER))
    assert (state["level"], state["score"]) == ("at_risk", "5")

    result = await call(r.agi.port, RISK_NUMBER, uid=7)
    assert result.variables["ROUTE_RULE"] == "retention for customers at risk"
    await r.router.log.flush()
    [decision] = await r.router.log.newest(1)
    assert "risk=at_risk: not_solved (issue_solved=no on 2026-11-22); low_rating (rating 1 on 2026-11-22)" \
        in decision["reasons"]

    clock.advance(15 * DAY)  # the "not solved" answer ages out; the rating stays
    result = await call(r.agi.port, RISK_NUMBER, uid=8)
    assert result.variables["ROUTE_RULE"] == "low rating on watch"


async def test_the_risk_state_is_read_in_the_calls_one_round_trip(store):
    await store.r.hset(store.k.risk(RISK_NUMBER), mapping={"level": "at_risk", "hits": "[]"})
    sent = []
    real = store.round_trip

    async def counting(commands, *args):
        sent.append(commands)
        return await real(commands, *args)

    store.round_trip = counting
    snap = await store.snapshot(RISK_NUMBER, None, MONDAY_10, 7 * DAY, record_inbound="u1")
    assert len(sent) == 1 and ("HGETALL", store.k.risk(RISK_NUMBER)) in sent[0]
    assert snap.risk == {"level": "at_risk", "hits": "[]"}


@pytest.mark.slow
def test_events_import_and_risk_list_from_the_command_line(redis_url, prefix, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RISK_RULES_TEXT)
    now = time.time()
    f = tmp_path / "events.csv"
    f.write_text("id,number,kind,at,value,note\n"
                 f"v1,+79161230001,technician_visit,{now - 2 * DAY:.0f},,router replaced\n"
                 f"r1,+79161230001,rating,{now - DAY:.0f},1,\n"
                 f"r2,+79161230001,rating,{now - DAY:.0f},0,\n")
    common = ["--rules", str(rules), "--store", redis_url, "--prefix", prefix]

    def router(*args):
        return subprocess.run([*ROUTER_CMD, *args, *common], capture_output=True, text=True, timeout=60,
                              env=router_env())

    res = router("events", "import", str(f))
    assert res.returncode == 1 and f"{f}:4: a rating's value is 1 to 5, not '0'; row skipped" in res.stderr
    assert "2 events read, 2 new, 0 already known, 1 problems" in res.stdout
    assert "2 events read, 0 new, 2 already known" in router("events", "import", str(f)).stdout
    listed = router("risk", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("+79161230001 — score 5, at risk since ") and "manager —, task rt-" in lines[0]
    assert lines[1].strip().startswith("technician_visit +2: technician_visit on ")
    assert lines[2].strip().startswith("low_rating +3: rating 1 on ")
    assert json.loads(router("risk", "list", "--json").stdout)[0]["score"] == 5
    assert router("risk", "list", "--day", "2001-01-01").stdout.strip() == "nobody is at risk"
    assert router("risk", "list", "--day", "monday").returncode == 2


async def test_entering_the_list_again_with_the_task_still_open_fires_the_webhook_again(serve, store):
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RISK_RULES_TEXT), clock)
    events: list[str] = []
    real = r.router.followups.announce

    async def seen(event, task_id, *change):
        events.append(event)
        await real(event, task_id, *change)

    r.router.followups.announce = seen
    visit = Event("v1", "technician_visit", MONDAY_10 - DAY)
    rating = Event("r1", "rating", MONDAY_10 - DAY, "2")
    await r.router.risk.add([(RISK_NUMBER, visit), (RISK_NUMBER, rating)])
    clock.advance(14 * DAY)  # the visit ages out: watch
    await r.router.tick()
    assert await store.r.zscore(store.k.risk_list, RISK_NUMBER) is None
    await r.router.risk.add([(RISK_NUMBER, Event("v2", "technician_visit", clock.t - 3600))])
    assert events == ["at_risk", "at_risk"]
    [task] = [t for t in await r.router.followups.worklist("open") if t.get("kind") == "retention"]
    assert (await store.task(task["id"]))["log"][-1]["text"].startswith("at risk again: technician_visit")


async def test_a_failing_risk_update_never_makes_the_follow_up_count_a_call_twice(serve, store, caplog):
    r = await serve(compiled(RISK_RULES_TEXT), Clock(MONDAY_10))

    async def broken(o):
        raise ConnectionError("Redis went away")

    r.router.risk.on_outcome = broken
    await r.router.on_outcome(missed(RISK_NUMBER, "1"))  # the AMI listener would retry it if this raised
    [task] = await r.router.followups.worklist("open")
    assert task["count"] == "1"
    assert "risk/escalation not updated now (Redis went away)" in caplog.text
