"""The standard figures, each formula checked on a day worked out by hand (docs/reports.md has the same day)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter

import pytest

from router.asterisk.agentstates import AgentStates
from router.core.outcome import CALLER_HUNG_UP, Outcome
from router.core.rulefile import RuleFileError
from router.core.rules import ReportSettings
from router.reports.agenttally import mark_counters, merged, span_counters
from router.reports.figures import StandardRow, standard
from router.reports.reader import agents_csv, calls_csv, report
from router.reports.report import build, text
from router.reports.sofar import queues_so_far
from router.reports.tally import Calendar, tally_call
from tests.helpers import (
    AGENT_FIGURES,
    CALL_FIGURES,
    MONDAY,
    MONDAY_9,
    MSK,
    RULES_TEXT,
    Clock,
    agent_figures_from_csv,
    call_figures_from_csv,
    compiled,
    open_report,
    pauses_by_reason,
)

SETTINGS = ReportSettings.model_validate({"service_level": "20s", "short_abandon": "5s",
                                          "first_contact_within": "7d",
                                          "queues": {"support": {"service_level": "30s"}}})
A, B = "PJSIP/101", "PJSIP/102"


def inbound(n: int, at: float, number: str, wait: float, *, by: str = "", talk: float = 0.0, hold: float = 0.0,
            wrapup: float = 0.0, queue: str = "sales", abandoned: bool = False, ivr: str = "") -> Outcome:
    answered = bool(by)
    reason = "" if answered else CALLER_HUNG_UP if abandoned else "every step failed (last: queue TIMEOUT)"
    return Outcome(f"c.{n}", "inbound", number, "answered" if answered else "missed", by=by, queue=queue,
                   ring_seconds=wait, talk_seconds=talk, ended_at=at + wait + talk, reason=reason,
                   hold_seconds=hold, wrapup_seconds=wrapup, ivr=ivr)


def day_counters(outcomes: list[Outcome]) -> Counter[str]:
    """Tally the calls in order, each reading its number's state as the one before left it (as the store does)."""
    states: dict[str, dict] = {}
    days: dict[str, Counter[str]] = {}
    for o in outcomes:
        t = tally_call(o, {}, states.get(o.number, {}), MSK, SETTINGS.short_abandon)
        states.setdefault(o.number, {}).update(t.state)
        days.setdefault(t.day, Counter()).update(t.counters)
        for day, more in t.earlier.items():
            days.setdefault(day, Counter()).update(more)
    return days[MONDAY]


H = 3600
# sales (T = 20 s): answered after 10 s (talk 100, hold 20, wrap-up 10) and after 20.7 s (counted 20 s, as
# Asterisk cuts it) by A, after 25 s by B; abandons after 3 s (short), 15 s and 40 s; a queue timeout after
# 60 s (missed, not abandoned). support (T = 30 s): answered after 25 s by B (talk 50). A self-service menu
# call (offered to nobody). The number of the first call calls again 2 h later (the 15 s abandon), the
# number of the third 30 min later (the 40 s abandon).
DAY = [
    inbound(1, MONDAY_9, "+79030000001", 10, by=A, talk=100, hold=20, wrapup=10),
    inbound(2, MONDAY_9 + 600, "+79030000002", 20.7, by=A, talk=60),
    inbound(3, MONDAY_9 + 1200, "+79030000003", 25, by=B, talk=200),
    inbound(4, MONDAY_9 + 1800, "+79030000004", 3, abandoned=True),
    inbound(6, MONDAY_9 + 1200 + 1800, "+79030000003", 40, abandoned=True),
    inbound(5, MONDAY_9 + 2 * H, "+79030000001", 15, abandoned=True),
    inbound(7, MONDAY_9 + 3 * H, "+79030000007", 60),
    inbound(9, MONDAY_9 + 4 * H, "+79030000009", 25, by=B, talk=50, queue="support"),
    inbound(8, MONDAY_9 + 5 * H, "+79030000008", 0, by="ivr:self-service", ivr="self-service", queue=""),
]


def test_day_figures_equal_the_hand_worked_ones():
    day = standard(day_counters(DAY).items(), SETTINGS)["day"]
    # offered: 8 calls to people, less 1 short abandon = 7; answered 4, of them within 20 s: 10 s and 20.7 s
    assert (day["offered"], day["answered"], day["short_abandoned"], day["abandoned"]) == (7, 4, 1, 2)
    assert day["service_level"] == round(2 / 7, 4) and day["service_level_seconds"] == 20
    # SL2 as Asterisk: (2 answered + 2 abandoned within 20 s: 3 s, 15 s) / (4 answered + 3 abandoned)
    assert day["service_level2"] == round(4 / 7, 4)
    assert day["asa_seconds"] == round((10 + 20.7 + 25 + 25) / 4, 1) == 20.2
    assert day["asa_p90_seconds"] == 25  # nearest rank: the 4th of 10, 20, 25, 25
    assert day["abandon_rate"] == round(2 / 7, 4)
    assert day["aht_seconds"] == (100 + 20 + 10 + 60 + 200 + 50) / 4 == 110.0
    # calls 1 and 3 (both answered) were followed by a further call: FCR 2 of 4 answered, recalls 2 of 7
    assert day["fcr_rate"] == 0.5 and day["recall_rate"] == round(2 / 7, 4)
    assert day["recall_median_seconds"] == 1800  # nearest rank: the 1st of 30 min and 2 h


def test_each_queue_is_measured_against_its_own_threshold():
    fig = standard(day_counters(DAY).items(), SETTINGS)
    queues = {r["name"]: r for r in fig["queues"]}
    support = queues["support"]
    assert (support["service_level_seconds"], support["offered"], support["service_level"]) == (30, 1, 1.0)
    sales = queues["sales"]
    assert (sales["offered"], sales["answered"], sales["service_level"]) == (6, 3, round(2 / 6, 4))
    assert sales["service_level2"] == round(4 / 6, 4) and sales["asa_p90_seconds"] == 25


def test_agents_and_hours_get_the_same_figures_of_their_calls():
    fig = standard(day_counters(DAY).items(), SETTINGS)
    agents = {r["name"]: r for r in fig["agents"]}
    # A: waits 10 and 20.7 s (15.35 s, a binary 15.3499…, printed 15.3), handle 130 and 60 s
    assert (agents[A]["answered"], agents[A]["aht_seconds"], agents[A]["asa_seconds"]) == (2, 95.0, 15.3)
    assert agents[A]["fcr_rate"] == 0.5 and agents[B]["fcr_rate"] == 0.5
    hours = {r["name"]: r for r in fig["hours"]}
    # 09:xx: calls 1-4 and the 40 s abandon (09:50): offered 5 - 1 short = 4, answered 3
    assert (hours["09"]["offered"], hours["09"]["answered"], hours["09"]["abandoned"]) == (4, 3, 1)


def test_nothing_offered_gives_none_not_zero():
    day = standard([], SETTINGS)["day"]
    assert day["service_level"] is None and day["abandon_rate"] is None and day["asa_seconds"] is None
    assert day["occupancy"] is None and day["offered"] == 0


def test_a_short_abandon_is_not_a_contact_a_recall_is_counted_of():
    quick = [inbound(1, MONDAY_9, "+79030000001", 10, by=A, talk=30),
             inbound(2, MONDAY_9 + 600, "+79030000001", 2, abandoned=True)]
    day = standard(day_counters(quick).items(), SETTINGS)["day"]
    assert (day["short_abandoned"], day["fcr_rate"], day["recall_rate"]) == (1, 1.0, 0.0)


def test_a_recall_past_the_window_leaves_the_first_call_resolved():
    days = [inbound(1, MONDAY_9, "+79030000001", 10, by=A, talk=30),
            inbound(2, MONDAY_9 + 8 * 86400, "+79030000001", 10, by=A, talk=30)]
    day = standard(day_counters(days).items(), SETTINGS)["day"]
    assert day["fcr_rate"] == 1.0
    within_9d = SETTINGS.model_copy(update={"first_contact_within": 9 * 86400})
    assert standard(day_counters(days).items(), within_9d)["day"]["fcr_rate"] == 0.0, \
        "a wider window applies to the days already counted"


M = 60


def agent_day() -> AgentStates:
    """A logs in to sales at 09:00, talks 09:10-09:20 (wrap-up 10 s, the member's own), pauses for lunch
    09:30-10:30, does not answer a ring at 10:40 and logs out at 11:00."""
    s = AgentStates()
    s.feed({"Event": "QueueMemberAdded", "Queue": "sales", "Interface": A, "Paused": "0", "Wrapuptime": "10"},
           MONDAY_9)
    s.feed({"Event": "AgentConnect", "Queue": "sales", "Interface": A}, MONDAY_9 + 10 * M)
    s.feed({"Event": "AgentComplete", "Queue": "sales", "Interface": A, "TalkTime": "600", "Reason": "caller"},
           MONDAY_9 + 20 * M)
    s.feed({"Event": "QueueMemberPause", "Queue": "sales", "Interface": A, "Paused": "1",
            "PausedReason": "lunch"}, MONDAY_9 + 30 * M)
    s.feed({"Event": "QueueMemberPause", "Queue": "sales", "Interface": A, "Paused": "0", "PausedReason": ""},
           MONDAY_9 + 90 * M)
    s.feed({"Event": "AgentRingNoAnswer", "Queue": "sales", "Interface": A, "RingTime": "15000"},
           MONDAY_9 + 100 * M)
    return s


def test_agent_states_give_occupancy_pauses_and_rings_not_answered():
    s = agent_day()
    s.feed({"Event": "QueueMemberRemoved", "Queue": "sales", "Interface": A}, MONDAY_9 + 120 * M)
    spans, marks, now = s.take()
    assert now[A]["state"] == "logged_out"
    c = merged(span_counters(spans, MSK), mark_counters(marks, MSK))[MONDAY]
    fig = standard(c.items(), SETTINGS)
    a = fig["agents"][0]
    # available 09:00-09:10, 09:20:10-09:30, 10:30-11:00 = 600 + 590 + 1800; talk 600; wrap-up 10
    assert (a["available_seconds"], a["talk_seconds"], a["wrapup_seconds"]) == (2990, 600, 10)
    assert a["occupancy"] == round(600 / (600 + 2990), 4) == 0.1671
    assert a["pauses"] == [{"reason": "lunch", "pauses": 1, "seconds": 3600.0}]
    assert (a["ring_no_answer"], a["logins"], a["logouts"]) == (1, 1, 1)
    hours = {r["name"]: r for r in fig["hours"]}
    assert (hours["09"]["available_seconds"], hours["09"]["paused_seconds"]) == (1190, 1800)
    assert (hours["10"]["available_seconds"], hours["10"]["paused_seconds"]) == (1800, 1800)
    assert fig["queues"][0]["occupancy"] == a["occupancy"]


def test_a_pause_in_every_queue_is_one_pause_of_the_agent():
    s = AgentStates()
    for q in ("sales", "support"):
        s.feed({"Event": "QueueMemberAdded", "Queue": q, "Interface": A, "Paused": "0"}, MONDAY_9)
    for q in ("sales", "support"):
        s.feed({"Event": "QueueMemberPause", "Queue": q, "Interface": A, "Paused": "1", "PausedReason": "break"},
               MONDAY_9 + 60)
    _, marks, now = s.take()
    c = mark_counters(marks, MSK)[MONDAY]
    assert (c["spn|a|PJSIP/101|break"], c["spn|q|sales|break"], c["spn|q|support|break"]) == (1, 1, 1)
    assert now[A] == {"state": "paused", "since": MONDAY_9 + 60, "queues": ["sales", "support"], "reason": "break"}


def test_paused_in_one_queue_is_still_available_in_the_other():
    s = AgentStates()
    for q in ("sales", "support"):
        s.feed({"Event": "QueueMemberAdded", "Queue": q, "Interface": A, "Paused": "0"}, MONDAY_9)
    s.feed({"Event": "QueueMemberPause", "Queue": "sales", "Interface": A, "Paused": "1"}, MONDAY_9 + 60)
    assert s.take()[2] == {A: {"state": "available", "since": MONDAY_9, "queues": ["sales", "support"],
                               "reason": ""}}


def test_today_so_far_counts_the_open_states_up_to_the_clock():
    s = agent_day()
    spans, marks, _ = s.take()
    c = merged(span_counters(spans, MSK), mark_counters(marks, MSK))[MONDAY]
    # at 11:00 A has been available since 10:30: 1800 s more than the counters hold
    tiles = queues_so_far({k: str(v) for k, v in c.items()}, {A: s.now_of(A)}, SETTINGS, MSK, MONDAY_9 + 120 * M)
    assert tiles["sales"]["available_seconds"] == 2990
    assert tiles["sales"]["occupancy"] == 0.1671
    later = queues_so_far({k: str(v) for k, v in c.items()}, {A: s.now_of(A)}, SETTINGS, MSK, MONDAY_9 + 150 * M)
    assert later["sales"]["available_seconds"] == 2990 + 1800


def test_a_member_first_seen_in_a_status_is_in_the_queue_but_did_not_log_in_then():
    s = AgentStates()
    s.from_status({"Event": "QueueMember", "Queue": "sales", "Location": A, "Paused": "0"}, MONDAY_9)
    s.feed({"Event": "QueueMemberStatus", "Queue": "support", "Interface": A, "Paused": "0"}, MONDAY_9 + 1)
    _, marks, now = s.take()
    assert marks == [] and now[A]["queues"] == ["sales", "support"] and now[A]["state"] == "available"


def test_a_member_the_router_never_saw_log_in_is_in_the_queue_that_connects_it():
    s = AgentStates()
    s.feed({"Event": "AgentConnect", "Queue": "sales", "Interface": A}, MONDAY_9)
    s.feed({"Event": "AgentComplete", "Queue": "sales", "Interface": A, "Reason": "caller"}, MONDAY_9 + 60)
    spans, marks, now = s.take()
    assert [(sp.state, sp.end - sp.start, sp.queues) for sp in spans] == [("talk", 60, ("sales",))]
    assert marks == [] and now[A]["state"] == "available"


def test_wrapup_that_ran_out_ends_where_it_ran_out():
    s = AgentStates(queue_wrapup={"sales": 30})
    s.feed({"Event": "QueueMemberAdded", "Queue": "sales", "Interface": A, "Paused": "0"}, MONDAY_9)
    s.feed({"Event": "AgentConnect", "Queue": "sales", "Interface": A}, MONDAY_9 + 60)
    s.feed({"Event": "AgentComplete", "Queue": "sales", "Interface": A}, MONDAY_9 + 120)
    assert s.wrapup_of(A, "sales") == 30, "the queue's wrap-up when the member carries none"
    s.feed({"Event": "QueueMemberPause", "Queue": "sales", "Interface": A, "Paused": "1", "PausedReason": "x"},
           MONDAY_9 + 600)
    spans = [(sp.state, sp.start - MONDAY_9, sp.end - MONDAY_9) for sp in s.take()[0]]
    assert spans == [("available", 0, 60), ("talk", 60, 120), ("wrapup", 120, 150), ("available", 150, 600)]


@pytest.mark.parametrize("bad", [{"service_level": "0s"}, {"service_level": "11m"},
                                 {"first_contact_within": "90m"}])
def test_thresholds_out_of_their_range_are_refused(bad):
    with pytest.raises(ValueError):
        ReportSettings.model_validate(bad)


async def test_the_days_csv_reconciles_with_every_figure_of_the_report(store):
    rules = compiled(RULES_TEXT + "\nreport: {service_level: 20s, short_abandon: 5s, first_contact_within: 7d, "
                                  "queues: {support: {service_level: 30s}}}\n")
    store.calendar = Calendar(MSK)
    for o in DAY:
        assert await store.record_outcome(o)
    rep = await report(store, rules, [MONDAY], MONDAY_9 + 12 * H)
    rows = list(csv.DictReader(io.StringIO(await calls_csv(store, [MONDAY]))))
    assert len(rows) == len(DAY)
    fig = rep["standard"]
    checked: list[tuple[str, StandardRow]] = [("day", fig["day"])]
    checked += [(kind, r) for kind, part in (("queue", "queues"), ("agent", "agents"), ("hour", "hours"))
                for r in fig[part]]
    assert len(checked) == 1 + 2 + 2 + 4  # sales and support; A and B; hours 09, 11, 12, 13 (the menu: nobody)
    for kind, r in checked:
        again = call_figures_from_csv(rows, kind, r["name"], r["service_level_seconds"], SETTINGS)
        assert {f: r[f] for f in CALL_FIGURES} == again, (kind, r["name"])
    assert fig["day"]["service_level"] == round(2 / 7, 4), "and the same as worked by hand"


async def test_the_agents_csv_reconciles_with_every_agent_figure_of_the_report(store):
    """Two members' days (one crossing 10:00, both queues for B) written as AMI tells them, then every agent
    figure of the day, each queue, agent and hour worked again from the agents' CSV."""
    rules = compiled(RULES_TEXT)
    store.calendar = Calendar(MSK)
    s = agent_day()
    for q in ("sales", "support"):
        s.feed({"Event": "QueueMemberAdded", "Queue": q, "Interface": B, "Paused": "0"}, MONDAY_9 + 5 * M)
    s.feed({"Event": "QueueMemberPause", "Queue": "sales", "Interface": B, "Paused": "1", "PausedReason": "=cmd"},
           MONDAY_9 + 50 * M)
    s.feed({"Event": "QueueMemberPause", "Queue": "support", "Interface": B, "Paused": "1",
            "PausedReason": "=cmd"}, MONDAY_9 + 50 * M)
    s.feed({"Event": "QueueMemberRemoved", "Queue": "sales", "Interface": A}, MONDAY_9 + 120 * M)
    for q in ("sales", "support"):
        s.feed({"Event": "QueueMemberRemoved", "Queue": q, "Interface": B}, MONDAY_9 + 130 * M)
    await store.record_agent_states(*s.take())
    fig = (await report(store, rules, [MONDAY], MONDAY_9 + 12 * H))["standard"]
    rows = list(csv.DictReader(io.StringIO(await agents_csv(store, [MONDAY]))))
    assert {r["reason"] for r in rows} == {"", "lunch", "'=cmd"}, "a reason starting like a formula is quoted"
    rows = [r | {"reason": r["reason"].removeprefix("'")} for r in rows]
    checked = [("day", fig["day"])] + [(kind, r) for kind, part in (("queue", "queues"), ("agent", "agents"),
                                                                   ("hour", "hours")) for r in fig[part]]
    assert len(checked) == 1 + 2 + 2 + 3  # sales and support; A and B; 09, 10, 11
    for kind, r in checked:
        again = agent_figures_from_csv(rows, kind, r["name"])
        assert {f: r[f] for f in AGENT_FIGURES} | {"pauses": pauses_by_reason(r)} == again, (kind, r["name"])
    assert fig["day"]["paused_seconds"] == 3600 + 80 * 60, "A's lunch and B's 80 minutes, by hand"


async def test_the_report_page_shows_the_standard_figures_and_the_agent_states(serve, store, browser, tmp_path):
    from selenium.webdriver.common.by import By

    rules = compiled(RULES_TEXT + "\nreport: {service_level: 20s, queues: {support: {service_level: 30s}}}\n")
    r = await serve(rules, Clock(MONDAY_9 + 12 * H), token="tk")
    for o in DAY:
        assert await store.record_outcome(o)
    s = agent_day()
    s.feed({"Event": "QueueMemberRemoved", "Queue": "sales", "Interface": A}, MONDAY_9 + 120 * M)
    await store.record_agent_states(*s.take())
    await open_report(browser, r.http_port, MONDAY, "tk")
    cells = await asyncio.to_thread(lambda: [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in
                                             browser.find_elements(By.CSS_SELECTOR, "#standard tbody tr")])
    day = cells[0]
    assert day[:6] == ["the day", "7", "4", "28.6 %", "57.1 %", "20 s"]  # 2/7 and 4/7, as worked by hand
    assert day[6:13] == ["20 s", "25 s", "2", "1", "28.6 %", "1 min 50 s", "50 %"]
    support = next(c for c in cells if c[0] == "queue support")
    assert support[3:6] == ["100 %", "100 %", "30 s"]
    states = await asyncio.to_thread(lambda: browser.find_element(By.ID, "agent-states").text)
    assert "lunch: 1×, 1 h 00 min" in states
    shot = tmp_path / "standard-figures.png"
    await asyncio.to_thread(browser.execute_script, "document.getElementById('standard').scrollIntoView()")
    assert await asyncio.to_thread(browser.save_screenshot, str(shot))
    print(shot)


def test_the_cli_prints_the_days_figures_with_their_thresholds():
    rules = compiled(RULES_TEXT + "\nreport: {service_level: 20s, queues: {support: {service_level: 30s}}}\n")
    counters = {k: str(v) for k, v in day_counters(DAY).items()}
    printed = text(build(rules, [MONDAY], [counters], [], MONDAY_9 + 12 * H))
    assert "short abandons under 5 s apart; FCR: no further call within 7 days" in printed
    day = next(line for line in printed.splitlines() if line.startswith("day "))
    assert day.split() == ["day", "7", "4", "28.6", "%", "57.1", "%", "20", "s", "20", "s", "25", "s", "2", "1",
                           "28.6", "%", "1", "min", "50", "s", "50.0", "%", "28.6", "%", "30", "min", "00", "s", "–"]
    queue = next(line for line in printed.splitlines() if line.startswith("queue support"))
    assert "100.0 % 100.0 %  30 s" in queue


def test_a_queue_the_targets_do_not_name_gets_did_you_mean():
    with pytest.raises(RuleFileError, match=r"report\.queues\.suport.*did you mean 'support'"):
        compiled(RULES_TEXT + "\nreport: {queues: {suport: {service_level: 30s}}}\n")
