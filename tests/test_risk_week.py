"""A week of calls (FastAGI + AMI outcomes) and posted events yields the at-risk list; the risky caller
is routed by the retention rule at ring time."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime

import aiohttp

from router.asterisk.callsim import call
from router.cli.risk import format_risk
from tests.asterisk import AMI_RECORDINGS
from tests.asterisk.ami_server import AMIServer, recorded_events
from tests.helpers import MSK, Clock, ami_target, compiled

WEEK_RULES = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
types: {support: technical support}
targets:
  support:   {queue: support, timeout: 120, type: support}
  retention: {queue: retention, priority: 8, timeout: 60, type: support}
managers:
  ivanov: {endpoint: PJSIP/101, timeout: 20}
rules:
  - name: customers at risk reach retention
    when: {risk: at_risk}
    route: [retention, support]
  - name: everyone else
    route: [support]
fallback: [support]
followup: {deadline: 30m, owner: duty, short_abandons: true}   # the recordings replay at one instant: 0 s rings
notify:
  webhooks:
    - url: "http://127.0.0.1:{port}/crm"
      events: [at_risk]
      json: {event: "{event}", phone: "{number}", owner: "{owner}", why: "{reason}"}
risk:
  levels: {watch: 2, at_risk: 4}
  owner: retention-lead
  signals:
    repeat_support_calls: {calls: {types: [support], days: 7, at_least: 3}, weight: 3}
    technician_visit: {events: {kinds: [technician_visit], days: 14}, weight: 2}
    not_solved: {events: {kinds: [issue_solved], value: "no", days: 14}, weight: 2}
    low_rating: {rating: {at_most: 2, days: 30}, weight: 3}
    missed_twice: {calls: {result: missed, days: 7, at_least: 2}, weight: 1}
    waiting_for_us: {open_followup: {calls: 2}, weight: 1}
"""
ANNA, BORIS, CYRIL, DARIA, EGOR = "+79160000001", "+79160000002", "+79160000003", "+79160000004", "+79160000005"
ANSWERED = ("ami_a_inbound_answered.txt", b"+79201234567", b"Local/agent1@agents")
MISSED = ("ami_b_inbound_missed_caller_hangup.txt", b"+79161112233", b"Local/agent3@agents")


def at(day: int, hour: int, minute: int = 0) -> float:
    """Day 16 is Monday 2026-11-16, Moscow time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=MSK).timestamp()


class Week:
    def __init__(self, running, ami: AMIServer, clock: Clock):
        self.r, self.ami, self.clock = running, ami, clock
        self.uid = 0

    async def call(self, number: str, when: float, how=ANSWERED) -> dict:
        """A call through FastAGI, then Asterisk's AMI events for it (a real recording, renumbered)."""
        self.clock.t = when
        self.uid += 1
        v = (await call(self.r.agi.port, number, uid=self.uid)).variables
        await self.r.router.log.flush()
        recording, their_number, marker = how
        raw = (AMI_RECORDINGS / recording).read_bytes().replace(
            b"Variable: ROUTE_TARGET\r\nValue: " + marker, f"Variable: ROUTE_DECISION\r\nValue: "
                                                           f"{v['ROUTE_DECISION']}".encode())
        raw = raw.replace(their_number, number.encode()).replace(b"17953377", f"9{self.uid:07d}".encode())
        events = recorded_events(raw)
        before = self.r.ami.received
        await self.ami.push(events, random.Random(self.uid))
        async with asyncio.timeout(10):
            while self.r.ami.tracker.calls or self.r.ami.received < before + events.count(b"Event: "):
                await asyncio.sleep(0.01)
        await self.r.ami.flush()
        return v

    async def post(self, *events: dict) -> dict:
        async with aiohttp.ClientSession() as s, \
                s.post(f"http://127.0.0.1:{self.r.http_port}/api/events", json=list(events)) as resp:
            assert resp.status == 200
            return await resp.json()


async def test_a_week_of_calls_and_events_gives_the_at_risk_list(serve, store, ami, gateway, capsys):
    await store.put_customers([(ANNA, {"name": "Anna Petrova", "manager": "ivanov", "abc": "B"}),
                               (BORIS, {"name": "Boris Orlov", "abc": "C"})])
    clock = Clock(at(16, 9))
    r = await serve(compiled(WEEK_RULES.replace("{port}", str(gateway.port))), clock, ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    week = Week(r, ami, clock)

    await week.call(ANNA, at(17, 10))                      # Tue: support, answered
    await week.call(CYRIL, at(17, 11))
    clock.t = at(18, 15)
    await week.post({"id": "crm-visit-1", "number": "8 916 000-00-01", "kind": "technician_visit",
                     "at": "2026-11-18T14:00"},            # Wed: a technician came to Anna
                    {"id": "crm-visit-2", "number": DARIA, "kind": "technician_visit", "at": "2026-11-18T16:00"})
    await week.call(ANNA, at(19, 9, 30))                   # Thu
    await week.call(DARIA, at(19, 12))
    clock.t = at(20, 18)
    await week.post({"id": "survey-1", "number": BORIS, "kind": "rating", "at": "2026-11-20T17:40", "value": 2},
                    {"id": "survey-2", "number": BORIS, "kind": "issue_solved", "at": "2026-11-20T17:41",
                     "value": "no"},
                    {"id": "survey-3", "number": CYRIL, "kind": "rating", "at": "2026-11-20T17:45", "value": 4})
    await week.call(EGOR, at(20, 19), MISSED)              # Fri evening: missed twice, a follow-up waits
    await week.call(EGOR, at(20, 19, 5), MISSED)
    await week.call(ANNA, at(21, 11))                      # Sat: Anna's third support call this week
    await week.call(CYRIL, at(21, 12))
    again = await week.post({"id": "survey-1", "number": BORIS, "kind": "rating", "at": "2026-11-20T17:40",
                             "value": 2})
    assert again["repeated"] == 1, "a re-sent event counts once"

    clock.t = at(23, 9)                                    # Monday morning: the list
    entries = await r.router.risk.listing()
    print("\nthe at-risk list on Monday 2026-11-23 09:00:\n" + format_risk(entries, MSK))
    assert [(e["number"], e["name"], e["manager"], e["score"]) for e in entries] == [
        (BORIS, "Boris Orlov", "", 5), (ANNA, "Anna Petrova", "ivanov", 5)]
    boris, anna = entries
    assert boris["since"] == at(20, 18) and anna["since"] == at(21, 11)
    assert [(s["name"], s["text"], s["dates"]) for s in anna["signals"]] == [
        ("repeat_support_calls", "3 support calls in 7 days", ["2026-11-17", "2026-11-19", "2026-11-21"]),
        ("technician_visit", "technician_visit on 2026-11-18", ["2026-11-18"])]
    assert [s["name"] for s in boris["signals"]] == ["not_solved", "low_rating"]
    assert (anna["task"]["owner"], boris["task"]["owner"]) == ("ivanov", "retention-lead")
    assert sorted((c["phone"], c["owner"]) for c in gateway.crm) == [(ANNA, "ivanov"), (BORIS, "retention-lead")]
    assert "repeat_support_calls (3 support calls in 7 days)" in next(c["why"] for c in gateway.crm
                                                                       if c["phone"] == ANNA)
    levels = {n: (await store.r.hget(store.k.risk(n), "level")) for n in (CYRIL, DARIA, EGOR)}
    assert levels == {CYRIL: None, DARIA: "watch", EGOR: "watch"}
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/api/risk?day=2026-11-21") as resp:
        assert [e["number"] for e in (await resp.json())["items"]] == [ANNA]

    v = await week.call(ANNA, at(23, 10))                  # she calls again: retention takes the call
    assert v["ROUTE_RULE"] == "customers at risk reach retention" and v["ROUTE_1_DEST"] == "retention"
    [decision] = await r.router.log.newest(1)
    assert any(x.startswith("risk=at_risk: repeat_support_calls (3 support calls in 7 days); technician_visit")
               for x in decision["reasons"])
    assert (decision["caller"]["risk"], decision["caller"]["risk_signals"]) == (
        "at_risk", ["repeat_support_calls", "technician_visit"])

    clock.t = at(26, 12)                                   # her third-newest call is a week old: the signal ages out
    await r.router.tick()
    assert [e["number"] for e in await r.router.risk.listing()] == [BORIS]
    assert await store.r.zscore(store.k.risk_list, ANNA) is None
