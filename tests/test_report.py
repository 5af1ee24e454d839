"""The daily report: the audited day placed through FastAGI, outcomes from AMI events, read in the CLI, the
API and the page; counters, percentiles, staff load, retention and the CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
from collections import Counter

import aiohttp
import pytest

from router.asterisk.callsim import call
from router.core.outcome import Outcome
from router.reports.report import build, percent, quantile
from tests.asterisk.ami_server import AMIServer
from tests.asterisk.calls import ANSWERED, MISSED, replay
from tests.helpers import (
    MONDAY,
    MONDAY_9,
    MSK,
    NEW_PROSPECTS_THEN_SUPPORT,
    ROUTER_CMD,
    Clock,
    ami_target,
    compiled,
    open_report,
    router_env,
    until,
)

SALES, SUPPORT = "88006008208", "88006008200"

AUDIT_RULES = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
identify: {repeat_within: 1h, callback_within: 24h, returning_after: 90d}
targets:
  new_connection: {queue: new-connection, priority: 10, timeout: 60, owner: sales-lead, type: new_connection}
  support:        {queue: support, timeout: 120}
managers:
  ivanov:  {endpoint: Local/agent1@agents, timeout: 20}
  petrova: {endpoint: Local/agent4@agents, timeout: 20}
rules:
""" + NEW_PROSPECTS_THEN_SUPPORT + """\
followup: {owner: duty, deadline: 30m}
types:
  internal: internal call
  payment: payment question
  tariff: tariff consultation
  coordination: coordination
  new_connection: {label: new connection, prospect: true}
  churn: churn (cancellation)
  missed: conversation did not happen (missed)
  support: service, technical support
types_by_dnid:
  "88006008200": support
report: {working_hours: "09:00-18:00"}
"""

AUDITED_TABLE = """\
call type                              count     %
internal call                              2   3 %
payment question                           5   7 %
tariff consultation                        4   5 %
coordination                               6   8 %
new connection                             7   9 %
churn (cancellation)                       1   1 %
conversation did not happen (missed)      29  39 %
service, technical support                21  28 %
total                                     75
"""


def audited_day() -> list[dict]:
    """The 75 calls of the audited day, in the order they come: who, on which line, answered or not, and the
    type an agent gives the call afterwards (corrections)."""
    plan: list[dict] = []
    plan += [{"number": n, "dnid": "100", "answered": True} for n in ("201", "202")]
    plan += [{"number": f"+7916500{i:04d}", "dnid": SALES, "answered": True} for i in range(7)]
    plan += [{"number": f"+7916600{i:04d}", "dnid": SALES, "answered": False} for i in range(10)]
    corrected = ["payment"] * 5 + ["tariff"] * 4 + ["coordination"] * 6 + ["churn"]
    plan += [{"number": f"+7903700{i:04d}", "dnid": SUPPORT, "answered": True, "correct": t}
             for i, t in enumerate(corrected)]
    plan += [{"number": f"+7903800{i:04d}", "dnid": SUPPORT, "answered": True} for i in range(21)]
    plan += [{"number": f"+7903900{i:04d}", "dnid": SUPPORT, "answered": False} for i in range(19)]
    order = sorted(range(len(plan)), key=lambda i: (i * 37) % len(plan))  # interleave lines and results
    return [plan[i] for i in order]


async def _wait(predicate, seconds: float = 60.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)


async def _until_recorded(store, r, outcomes: int, seconds: float = 120.0) -> None:
    """Until the AMI listener has written this many outcomes and what follows them (follow-ups)."""
    async with asyncio.timeout(seconds):
        while await store.r.xlen(store.k.outcomes) < outcomes or r.ami.pending:
            await asyncio.sleep(0.05)


async def place_audited_day(serve, store, ami: AMIServer):
    """Every call through FastAGI at its time, then AMI streams of real calls for their outcomes, corrections
    by an agent (half while the call is still unreported, half after), and three callbacks."""
    customers = [(f"+7903{band}00{i:04d}", {"name": f"customer {band}{i}", "manager": "ivanov" if i % 2 else
                  "petrova"}) for band in (7, 8, 9) for i in range(21)]
    await store.put_customers(customers)
    clock = Clock(MONDAY_9)
    r = await serve(compiled(AUDIT_RULES), clock, token="tk", ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 30)
    plan = audited_day()
    for i, c in enumerate(plan):
        clock.t = c["at"] = MONDAY_9 + i * 420  # one call every 7 minutes, 09:00 to 17:38
        v = (await call(r.agi.port, c["number"], uid=i + 1, dnid=c["dnid"])).variables
        c["decision"] = v["ROUTE_DECISION"]
    await r.router.log.flush()
    base = f"http://127.0.0.1:{r.http_port}"
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer tk"}) as http:
        to_correct = [c for c in plan if c.get("correct")]
        for c in to_correct[::2]:
            body = {"type": c["correct"], "by": "ivanov"}
            async with http.post(f"{base}/api/calls/{c['decision']}/type", json=body) as resp:
                assert (resp.status, (await resp.json())["counted"]) == (200, False)
        clock.t = MONDAY_9 + 9 * 3600  # 18:00: the day's calls are reported as they end
        await ami.push(b"".join(replay((ANSWERED if c["answered"] else MISSED)[i % 2], c["number"], c["at"], i + 1,
                                       c["decision"]) for i, c in enumerate(plan)))
        await _until_recorded(store, r, 75)
        missed = [c for c in plan if not c["answered"] and c["number"].startswith("+")]
        clock.t = end = MONDAY_9 + 11 * 3600  # 20:00: three callbacks, two of them reach the customer
        callbacks = [(missed[0], "ami_f_outbound_callback_answered", end),
                     (missed[1], "ami_f_outbound_callback_answered", end + 300),
                     (missed[2], "ami_m_outbound_callback_no_answer", end + 600)]
        await ami.push(b"".join(replay(name, c["number"], at, 900 + j) for j, (c, name, at) in enumerate(callbacks)))
        await _until_recorded(store, r, 75 + 3)
        await _wait(lambda: r.router.followups.counters.closed >= 2)
        clock.t = end + 3600
        for c in to_correct[1::2]:
            body = {"type": c["correct"], "by": "head"}
            async with http.post(f"{base}/api/calls/{c['decision']}/type", json=body) as resp:
                assert (resp.status, (await resp.json())["counted"]) == (200, True)
    return r, plan


@pytest.mark.slow
async def test_audited_day_reproduces_the_table_in_the_cli_the_api_and_the_page(serve, store, ami, browser,
                                                                                redis_url, prefix, tmp_path):
    from selenium.webdriver.common.by import By

    r, plan = await place_audited_day(serve, store, ami)
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(AUDIT_RULES)

    async with aiohttp.ClientSession(headers={"Authorization": "Bearer tk"}) as http:
        async with http.get(f"http://127.0.0.1:{r.http_port}/api/report?day={MONDAY}") as resp:
            api = await resp.json()
        async with http.get(f"http://127.0.0.1:{r.http_port}/api/report/calls.csv?day={MONDAY}") as resp:
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [(t["label"], t["count"], t["percent"]) for t in api["table"]] == [
        ("internal call", 2, 3), ("payment question", 5, 7), ("tariff consultation", 4, 5), ("coordination", 6, 8),
        ("new connection", 7, 9), ("churn (cancellation)", 1, 1), ("conversation did not happen (missed)", 29, 39),
        ("service, technical support", 21, 28)]
    assert api["total"] == 75 and api["inbound"] == {"calls": 73, "answered": 44, "missed": 29,
                                                     "missed_share": 39.7, "callback_requested": 0}
    by_type = {t["name"]: (t["calls"], t["missed"]) for t in api["missed_by"]["type"]}
    assert by_type == {"new_connection": (17, 10), "support": (40, 19), "payment": (5, 0), "tariff": (4, 0),
                       "coordination": (6, 0), "churn": (1, 0)}
    assert sum(h["calls"] for h in api["per_hour"]) == 73
    assert api["callbacks"]["made"] == 3 and api["callbacks"]["answered"] == 2
    assert api["outbound"] == {"calls": 3, "answered": 2}
    ring = api["ring_seconds"]
    assert ring["before_answer"]["calls"] == 44 and ring["before_giving_up"]["calls"] == 29
    assert 1 <= ring["before_answer"]["median"] <= ring["before_answer"]["p90"] <= 20
    staff = {p["who"]: p for p in api["staff"]}
    assert staff["ivanov"]["answered"] + staff["petrova"]["answered"] == 46  # 44 customers and 2 internal calls
    assert staff["sales-lead"]["followups_opened"] == 10 and staff["ivanov"]["followups_closed"] == 2
    assert staff["ivanov"]["close_median_seconds"] == 7200 and staff["ivanov"]["closed_late"] == 2
    assert sum(p["overdue_open"] for p in api["staff"]) == 27, "at 21:00 every task still open is overdue"
    assert len(rows) == 78 and Counter(row["direction"] for row in rows) == {"inbound": 73, "internal": 2,
                                                                             "outbound": 3}
    assert {row["type"] for row in rows if row["decision"] == plan[0]["decision"]} <= {"support", "new_connection",
                                                                                       ""} | {"payment"}

    cli = await asyncio.to_thread(subprocess.run, [*ROUTER_CMD, "report", "--day", MONDAY, "--rules", str(rules_file),
                                                   "--store", redis_url, "--prefix", prefix],
                                  capture_output=True, text=True, env=router_env(), timeout=60)
    assert cli.returncode == 0, cli.stderr
    print(cli.stdout)
    assert AUDITED_TABLE in cli.stdout
    as_json = await asyncio.to_thread(subprocess.run, [*ROUTER_CMD, "report", "--day", MONDAY, "--json", "--rules",
                                                       str(rules_file), "--store", redis_url, "--prefix", prefix],
                                      capture_output=True, text=True, env=router_env(), timeout=60)
    cli_report = json.loads(as_json.stdout)
    for part in ("table", "total", "inbound", "missed_by", "per_hour", "ring_seconds", "callbacks", "outbound"):
        assert cli_report[part] == api[part], part

    await open_report(browser, r.http_port, MONDAY, "tk")
    shown = await asyncio.to_thread(lambda: [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in
                                             browser.find_elements(By.CSS_SELECTOR, "#types tbody tr")])
    assert shown == [[t["label"], str(t["count"]), f"{t['percent']} %"] for t in api["table"]] + \
        [["total", "75", ""]]
    bars = await asyncio.to_thread(browser.find_elements, By.CSS_SELECTOR, "#hour-chart svg rect")
    assert len(bars) == 48
    shot = os.environ.get("REPORT_SCREENSHOT") or str(tmp_path / "report.png")
    assert await asyncio.to_thread(browser.save_screenshot, shot)


async def test_type_corrected_on_the_live_page_moves_the_call_in_the_report(serve, store, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    await store.put_customers([("+79037000001", {"name": "Olga"})])
    r = await serve(compiled(AUDIT_RULES), Clock(MONDAY_9), token="tk")
    v = (await call(r.agi.port, "+79037000001", uid=1, dnid=SUPPORT)).variables
    await r.router.log.flush()
    o = Outcome("x.1", "inbound", "+79037000001", "answered", by="Local/agent1@agents", queue="support",
                decision=v["ROUTE_DECISION"], ring_seconds=4.0, talk_seconds=95.0, ended_at=MONDAY_9 + 99)
    assert await store.record_outcome(o)
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/?token=tk")
    picker = await until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#decisions select.type"))
    assert await asyncio.to_thread(lambda: Select(picker[0]).first_selected_option.text) == \
        "service, technical support"
    await asyncio.to_thread(lambda: Select(picker[0]).select_by_visible_text("payment question"))
    await until(browser, lambda d: "corrected" in d.find_element(By.CSS_SELECTOR, "select.type").get_attribute("class"))
    shot = os.environ.get("PAGE_TYPE_SCREENSHOT") or "/tmp/type-picker.png"
    assert await asyncio.to_thread(browser.save_screenshot, shot)
    counters = (await store.report_counters([MONDAY]))[0]
    assert (counters["t|support"], counters["t|payment"]) == ("0", "1")
    assert (await store.outcomes_for([v["ROUTE_DECISION"]]))[v["ROUTE_DECISION"]]["type"] == "payment"
    link = await asyncio.to_thread(lambda: browser.find_element(By.ID, "report-link").get_attribute("href"))
    await asyncio.to_thread(browser.get, link + f"?day={MONDAY}")
    await until(browser, lambda d: d.find_element(By.ID, "status").text == "ready")
    table = await asyncio.to_thread(lambda: browser.find_element(By.ID, "types").text)
    assert "payment question 1 100 %" in table


def test_percentages_round_halves_up_and_quantiles_are_nearest_rank():
    assert [percent(n, 75) for n in (2, 5, 4, 6, 7, 1, 29, 21)] == [3, 7, 5, 8, 9, 1, 39, 28]
    assert percent(1, 0) == 0
    dist = Counter({2: 5, 9: 4, 30: 1})
    assert (quantile(dist, 0.5), quantile(dist, 0.9), quantile(dist, 1.0)) == (2, 9, 30)
    assert quantile(Counter(), 0.5) is None


def test_report_of_days_without_calls_is_empty_not_an_error():
    rep = build(compiled(AUDIT_RULES), [MONDAY], [{}], [], MONDAY_9)
    assert rep["total"] == 0 and all(t["count"] == 0 for t in rep["table"])
    assert rep["ring_seconds"]["before_answer"]["median"] is None


async def test_counters_and_raw_calls_expire_after_the_documented_retention(store):
    from router.reports.tally import Calendar

    store.calendar = Calendar(MSK, keep_days=400 * 86400, keep_calls=30 * 86400)
    o = Outcome("r.1", "inbound", "+79035550001", "missed", ring_seconds=12.0, ended_at=MONDAY_9 + 12,
                reason="caller hung up before anyone answered")
    assert await store.record_outcome(o)
    assert not await store.record_outcome(Outcome.from_record(o.record())), "an outcome is counted once"
    assert 399 * 86400 < await store.r.ttl(store.k.report_day(MONDAY)) <= 400 * 86400
    assert 29 * 86400 < await store.r.ttl(store.k.calls_day(MONDAY)) <= 30 * 86400
    assert (await store.report_counters([MONDAY]))[0] == {"in": "1", "in|m": "1", "t|": "1", "t||m": "1",
                                                      "h|09": "1", "h|09|m": "1", "rm|12": "1",
                                                      # the standard figures: offered, abandoned after 12 s
                                                      "so|day|all": "1", "so|h|09": "1", "sab|day|all": "1",
                                                      "sab|h|09": "1", "sb|day|all|12": "1", "sb|h|09|12": "1"}


@pytest.mark.slow
async def test_cli_report_rejects_a_bad_day_with_a_clear_message(tmp_path):
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(AUDIT_RULES)
    done = await asyncio.to_thread(subprocess.run, [*ROUTER_CMD, "report", "--day", "23.11.2026", "--rules",
                                                    str(rules_file)], capture_output=True, text=True,
                                   env=router_env(), timeout=60)
    assert done.returncode == 2 and "write days as YYYY-MM-DD" in done.stderr


def _outcome(**kw) -> Outcome:
    base = {"linkedid": "u.1", "direction": "inbound", "number": "+79035550001", "result": "answered",
            "by": "PJSIP/101", "queue": "support", "decision": "", "ring_seconds": 4.0, "talk_seconds": 60.0,
            "ended_at": MONDAY_9 + 64, "reason": "", "type": "support"}
    return Outcome.from_record(base | kw)


def test_a_miss_is_remembered_until_a_conversation_and_the_first_callback_is_timed():
    from router.reports.tally import tally_call

    missed = tally_call(_outcome(result="missed", by="", talk_seconds=0.0, ended_at=MONDAY_9 + 4), {}, {}, MSK)
    assert missed.state.pop("last_in"), "a missed call is a contact a further call counts a recall of"
    assert missed.state == {"miss": MONDAY_9} and missed.counters["t|support|m"] == 1
    ivr = tally_call(_outcome(ivr="self-service", by="ivr:self-service"), {}, {}, MSK)
    assert "miss" not in ivr.state and "prospect" not in ivr.state and not any(k.startswith("a|") for k in
                                                                               ivr.counters)
    first = tally_call(_outcome(direction="outbound", result="missed", talk_seconds=0.0, ring_seconds=20.0,
                                ended_at=MONDAY_9 + 3600 + 20), {}, {"miss": str(MONDAY_9)}, MSK)
    assert (first.counters["cb"], first.counters["cbd|3600"], first.state) == (1, 1, {"miss_cb": 1})
    assert first.record["callback_after_seconds"] == 3600
    second = tally_call(_outcome(direction="outbound", ended_at=MONDAY_9 + 7264), {},
                        {"miss": str(MONDAY_9), "miss_cb": "1"}, MSK)
    assert second.counters["cb|ok"] == 1 and not any(k.startswith("cbd|") for k in second.counters)
    assert second.clear == ("miss", "miss_cb") and second.state == {"prospect": 0}


def test_retyping_moves_a_call_between_types_and_keeps_it_missed():
    from router.reports.tally import retype

    assert retype({"direction": "inbound", "type": "support", "result": "missed"}, "payment") == \
        {"t|support": -1, "t|payment": 1, "t|support|m": -1, "t|payment|m": 1}
    assert retype({"direction": "internal", "type": "", "result": "answered"}, "payment") == {}


async def test_a_range_sums_its_days_and_a_reversed_range_is_refused(serve, store):
    r = await serve(compiled(AUDIT_RULES), Clock(MONDAY_9 + 2 * 86400), token="tk")
    for day in range(3):
        for i in range(day + 1):
            o = _outcome(linkedid=f"d{day}.{i}", ended_at=MONDAY_9 + day * 86400 + 64 + i)
            assert await store.record_outcome(o)
    base = f"http://127.0.0.1:{r.http_port}/api/report"
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer tk"}) as http:
        async with http.get(f"{base}?from=2026-11-23&to=2026-11-25") as resp:
            three = await resp.json()
        async with http.get(f"{base}?from=2026-11-24&to=2026-11-25") as resp:
            two = await resp.json()
        async with http.get(base) as resp:
            today = await resp.json()
        async with http.get(f"{base}?from=2026-11-25&to=2026-11-23") as resp:
            assert resp.status == 400 and "ends (2026-11-23) before it starts" in (await resp.json())["error"]
        async with http.get(f"{base}?day=yesterday") as resp:
            assert resp.status == 400 and "YYYY-MM-DD" in (await resp.json())["error"]
    assert (three["days"], three["total"], two["total"], today["total"], today["from"]) == (3, 6, 5, 3, "2026-11-25")
    support = next(t for t in three["table"] if t["type"] == "support")
    assert (support["count"], support["percent"]) == (6, 100)
    assert three["staff"][0]["talk_seconds"] == 360.0
    assert three["staff"][0]["phone_share"] == round(360 * 100 / (3 * 9 * 3600), 1)


def test_a_caller_who_kept_his_place_for_a_callback_is_not_missed_nor_answered():
    from router.reports.tally import retype, tally_call

    held = _outcome(result="missed", by="", talk_seconds=0.0, ring_seconds=95.0, ended_at=MONDAY_9 + 95,
                    reason="callback requested in queue support: place kept (waited 95 s)")
    calls = [_outcome(), _outcome(linkedid="u.2", result="missed", by="", talk_seconds=0.0, ring_seconds=20.0,
                                  reason="caller hung up before anyone answered"), held]
    tallies = [tally_call(o, {}, {}, MSK) for o in calls]
    assert "t|support|m" not in tallies[2].counters and "rm|95" not in tallies[2].counters
    assert tallies[2].counters["in|k"] == 1 and tallies[2].record["callback_requested"] == 1
    assert tallies[2].state["miss"] == MONDAY_9, "the router still owes him a call: a callback to him is timed"
    day = Counter()
    for t in tallies:
        day.update(t.counters)
    report = build(compiled(AUDIT_RULES), [MONDAY], [{k: str(v) for k, v in day.items()}], [], MONDAY_9 + 3600)
    inbound = report["inbound"]
    assert (inbound["calls"], inbound["answered"], inbound["missed"], inbound["callback_requested"]) == (3, 1, 1, 1)
    rows = {r["type"]: r["count"] for r in report["table"]}
    assert (rows["support"], rows["missed"], rows["callback_requested"]) == (1, 1, 1)
    assert sum(r["count"] for r in report["table"]) == report["total"] == 3
    queue = next(r for r in report["missed_by"]["queue"] if r["name"] == "support")
    assert (queue["calls"], queue["missed"]) == (3, 1)
    assert report["standard"]["day"]["offered"] == 3 and report["standard"]["day"]["abandoned"] == 1, \
        "he was offered and not answered within T, but he did not abandon"
    assert retype(tallies[2].record, "payment") == \
        {"t|support": -1, "t|payment": 1, "t|support|k": -1, "t|payment|k": 1}
