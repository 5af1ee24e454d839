"""Holidays, moved working days and the night switch change routing as `router simulate` says: the country's
production calendar, the company's own dates (YAML, CSV, iCal), `holiday:`, `workday:`, `switch:` and
`zone:` conditions; the switch flipped on the API, the page's button or the *28 feature code's AGI, read in
the call's one round trip."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime

import aiohttp
import pytest

from router.asterisk import callsim
from router.cli.main import main
from router.core.calendar import CalendarSettings, CompanyCalendar
from router.core.decide import CompiledRules
from router.core.phones import score
from router.core.rulefile import RuleFileError, load_rules, load_rules_text
from router.state.localview import LocalView
from tests.helpers import MSK, RULES_DIR, Clock, RoundTrips

RULES = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
calendar:
  country: RU
  holidays: [{date: 2026-12-30, name: year-end inventory}]
  workdays: [2026-12-26]
targets:
  office: {queue: office}
  duty: {dial: PJSIP/900}
  far_east: {queue: far-east}
  weekend: {queue: weekend}
rules:
  - name: night switch
    when: {switch: night}
    route: [duty]
  - name: holiday
    when: {holiday: true}
    route: [duty]
  - name: far east callers
    when: {zone: Asia/Vladivostok}
    route: [far_east]
  - name: working day
    when: {workday: true}
    route: [office]
  - name: weekend
    route: [weekend]
fallback: [office]
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=MSK).timestamp()


def test_the_production_calendar_knows_holidays_days_off_and_moved_working_days():
    cal = CompanyCalendar(CalendarSettings(country="RU"))
    assert cal.day(date(2025, 11, 4)).holiday == "Unity Day"
    assert cal.day(date(2025, 11, 3)).describe() == "mon 2025-11-03 is a holiday (Day off (substituted from " \
                                                   "11/01/2025))"
    assert cal.day(date(2025, 11, 1)).describe() == "sat 2025-11-01 is a working day (moved from a day off)"
    assert cal.day(date(2025, 11, 2)).describe() == "sun 2025-11-02 is a weekend day"
    assert (cal.day(date(2025, 11, 5)).workday, cal.day(date(2025, 11, 5)).holiday) == (True, "")


def test_the_companys_own_dates_win_over_the_country_and_a_bad_country_says_so():
    rules = CompiledRules(load_rules_text(RULES))
    assert rules.calendar.day(date(2026, 12, 30)).holiday == "year-end inventory"
    assert rules.calendar.day(date(2026, 12, 26)).describe() == "sat 2026-12-26 is a working day (moved from a " \
                                                               "day off)"
    with pytest.raises(RuleFileError, match=r"<rules>:5: calendar.country: no production calendar for country 'XX'"):
        load_rules_text(RULES.replace("country: RU", "country: XX"))
    with pytest.raises(RuleFileError, match="no subdivision 'ZZ'"):
        load_rules_text(RULES.replace("country: RU", "country: RU\n  subdivision: ZZ"))


def test_dates_come_from_csv_yaml_and_ical_files_beside_the_rules(tmp_path):
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "company.csv").write_text("date,name,kind\n# the company's own\n2026-06-01,founders day,\n"
                                                  "2026-06-06,,workday\n")
    (tmp_path / "cal" / "more.yaml").write_text("holidays:\n  - 2026-07-01\n  - {date: 2026-07-02, name: trip}\n")
    (tmp_path / "cal" / "office.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Office closed\r\nDTSTART;VALUE=DATE:20260810\r\n"
        "DTEND;VALUE=DATE:20260812\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:2\r\nSUMMARY:Company anniversary\r\nDTSTART;VALUE=DATE:20260915\r\n"
        "RRULE:FREQ=YEARLY;COUNT=3\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:3\r\nSUMMARY:Stocktaking Saturday\r\nCATEGORIES:workday\r\n"
        "DTSTART;VALUE=DATE:20261003\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    files = "  files: [cal/company.csv, cal/more.yaml, cal/office.ics]"
    (tmp_path / "rules.yaml").write_text(RULES.replace("  workdays: [2026-12-26]",
                                                       f"  workdays: [2026-12-26]\n{files}"))
    cal = CompiledRules(load_rules(tmp_path / "rules.yaml")).calendar
    said = {d: cal.day(date.fromisoformat(d)).describe().split(" is ", 1)[1] for d in (
        "2026-06-01", "2026-06-06", "2026-07-01", "2026-07-02", "2026-08-10", "2026-08-11", "2026-08-12",
        "2026-09-15", "2028-09-15", "2029-09-15", "2026-10-03")}
    assert said == {"2026-06-01": "a holiday (founders day)", "2026-06-06": "a working day (moved from a day off)",
                    "2026-07-01": "a holiday (company holiday)", "2026-07-02": "a holiday (trip)",
                    "2026-08-10": "a holiday (Office closed)", "2026-08-11": "a holiday (Office closed)",
                    "2026-08-12": "a working day", "2026-09-15": "a holiday (Company anniversary)",
                    "2028-09-15": "a holiday (Company anniversary)", "2029-09-15": "a weekend day",
                    "2026-10-03": "a working day (moved from a day off)"}


def test_a_broken_calendar_file_is_named_at_its_line(tmp_path):
    (tmp_path / "days.csv").write_text("2026-06-01,ok\n2026-13-01,bad month\n2026-06-02,x,vacation\n")
    (tmp_path / "days.yaml").write_text("holidays:\n  - 2026-07-01\n  - not a date\n")
    (tmp_path / "rules.yaml").write_text(RULES.replace(
        "  workdays: [2026-12-26]", "  workdays: [2026-12-26]\n  files: [days.csv, days.yaml, missing.ics]"))
    with pytest.raises(RuleFileError) as e:
        load_rules(tmp_path / "rules.yaml")
    lines = [str(p).replace(str(tmp_path) + "/", "") for p in e.value.problems]
    assert lines[0].startswith("days.csv:2: date: ") and "month" in lines[0]
    assert lines[1] == "days.csv:3: kind 'vacation': write holiday or workday (or leave it empty: holiday)"
    assert lines[2].startswith("days.yaml:3: date: ")
    assert lines[3].startswith("rules.yaml:8: missing.ics: cannot read the calendar file")


def simulate(capsys, rules, *args: str) -> str:
    capsys.readouterr()
    assert main(["simulate", "--rules", str(rules), "--caller", "+79161234500", *args]) == 0
    return capsys.readouterr().out


def test_simulate_shows_what_a_holiday_a_moved_working_day_and_the_switch_do(tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    out = simulate(capsys, rules, "--at", "2027-01-01T11:00")
    assert "fri 2027-01-01 is a holiday (New Year Holidays)" in out.splitlines()[1]
    assert "rule: holiday" in out and "why: rule: holiday; fri 2027-01-01 is a holiday (New Year Holidays)" in out
    out = simulate(capsys, rules, "--at", "2025-11-01T11:00")
    assert "rule: working day" in out and "sat 2025-11-01 is a working day (moved from a day off)" in out
    assert "rule: weekend" in simulate(capsys, rules, "--at", "2025-11-02T11:00")
    out = simulate(capsys, rules, "--at", "2027-01-01T11:00", "--switch", "night")
    assert "switch night" in out and "why: rule: night switch; switch=night" in out


def test_the_zone_condition_reads_the_callers_zone():
    rs = load_rules_text(RULES)
    with pytest.raises(RuleFileError, match="unknown time zone 'Asia/Nowhere'"):
        load_rules_text(RULES.replace("zone: Asia/Vladivostok", "zone: Asia/Nowhere"))
    assert rs.rules[2].when is not None and rs.rules[2].when.zone == ["Asia/Vladivostok"]


def test_a_cluster_router_keeps_the_switch_in_memory():
    view = LocalView()
    view.apply({"type": "switch", "switch": "night"})
    assert view.switch == "night"


async def test_the_switch_is_read_in_the_calls_one_round_trip(store, monkeypatch):
    await store.set_switch("night", "test", 0)
    await store.ping()
    trips = RoundTrips(monkeypatch)
    snap = await store.snapshot("+79161234500", score("+79161234500"), at("2026-11-23T10:00"), 0)
    assert (trips.n, snap.switch, snap.strategy) == (1, "night", None)


@pytest.mark.slow
async def test_the_night_switch_changes_routing_from_the_next_call(serve, store, redis_url, prefix, capsys):
    clock = Clock(at("2026-11-23T11:00"))  # a Monday, a working day
    r = await serve(CompiledRules(load_rules_text(RULES)), clock)
    first = await callsim.call(r.agi.port, "+79161234500", uid=1, dnid="4951112233")
    assert first.variables["ROUTE_RULE"] == "working day"
    base = f"http://127.0.0.1:{r.http_port}/api/switch"
    async with aiohttp.ClientSession() as s:
        async with s.get(base) as resp:
            assert (await resp.json())["switch"] == "day"
        async with s.post(base, json={"switch": "dusk", "by": "x"}) as resp:
            assert resp.status == 400 and "day, night or toggle" in (await resp.json())["error"]
        async with s.post(base, json={"switch": "night", "by": "duty supervisor"}) as resp:
            assert (await resp.json())["previous"] == "day"
        async with s.get(base) as resp:
            state = await resp.json()
    assert (state["switch"], state["by"], state["at"]) == ("night", "duty supervisor", clock())
    second = await callsim.call(r.agi.port, "+79161234501", uid=2, dnid="4951112233")
    assert (second.variables["ROUTE_RULE"], second.chain()) == ("night switch", [("dial", "PJSIP/900", "60")])
    d = r.router.log.recent[-1]
    assert d["caller"]["switch"] == "night" and "switch=night" in d["reasons"]
    # the admin's simulate reads the switch from the store, as the call did
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["simulate", "--rules", str(RULES_DIR / "default.yaml"), "--caller",
                                          "+79161234500", "--store", redis_url, "--prefix", prefix, "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["caller"]["switch"] == "night"


@pytest.mark.slow
async def test_the_feature_code_flips_the_switch_over_fastagi(serve, store):
    clock = Clock(at("2026-11-23T23:00"))
    r = await serve(CompiledRules(load_rules_text(RULES)), clock)
    flipped = await callsim.call(r.agi.port, "101", script="switch", args=("toggle", "101"))
    assert flipped.variables == {"CALLROUTER_SWITCH": "night"}
    assert (await store.strategy())["switch_by"] == "feature code from 101"
    again = await callsim.call(r.agi.port, "101", script="switch", args=("toggle", "101"))
    assert again.variables == {"CALLROUTER_SWITCH": "day"}
    wrong = await callsim.call(r.agi.port, "101", script="switch", args=("dusk", "101"))
    assert wrong.variables == {"CALLROUTER_SWITCH": "error"}
    assert (await store.strategy())["switch"] == "day"
