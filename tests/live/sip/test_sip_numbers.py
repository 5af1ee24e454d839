"""A day on a real queue with SIP agents gives the standard figures worked out by hand, in the report (API), in
the wallboard's today-so-far, from the CSV, and as Asterisk's own queue statistics (SL, SL2) have them.

The queue `numbers` (tests/live/sip/stack.py): T = 3 s, a member rings 6 s, the queue waits 5 s before
ringing again. Agents log in with QueueAdd and their own wrap-up of 1 s, one at a time:
- 151 (answers after 1 s, talks 1 s) pauses for `lunch` while the other phones register, comes back, takes
  A inside T, logs out;
- 152 (answers after 4.5 s) takes B past T;
- 153 (never answers): C gives up after 7 s (one ring not answered: 6 s ring, 5 s retry), D after 2 s
  (a short abandon, under 5 s);
- 151 again takes E, from A's number: A was not resolved at first contact.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from router.core.rulefile import load_rules_text
from router.reports.sofar import queues_so_far
from tests.helpers import (
    AGENT_FIGURES,
    CALL_FIGURES,
    add_user,
    agent_figures_from_csv,
    call_figures_from_csv,
    pauses_by_reason,
    user_token,
)
from tests.live.sip.driver import Sip
from tests.live.sip.phones import answers, rings
from tests.live.sip.stack import HERE, SIP_TEST

pytestmark = SIP_TEST

QUEUE, LINE, T = "numbers", "3030", 3
WRAPUP = 1
RULES = load_rules_text((HERE / "rules.yaml").read_text())
ZONE = ZoneInfo(RULES.company.timezone)


async def log_in(sip: Sip, ext: str) -> float:
    reply = await sip.ami.action("QueueAdd", Queue=QUEUE, Interface=f"PJSIP/{ext}", MemberName=f"Agent {ext}",
                                 Wrapuptime=str(WRAPUP))
    assert reply.get("Response") == "Success", dict(reply)
    return await stamp(sip, "QueueMemberAdded", ext)


async def log_out(sip: Sip, ext: str) -> float:
    reply = await sip.ami.action("QueueRemove", Queue=QUEUE, Interface=f"PJSIP/{ext}")
    assert reply.get("Response") == "Success", dict(reply)
    return await stamp(sip, "QueueMemberRemoved", ext)


async def pause(sip: Sip, ext: str, paused: bool, reason: str = "") -> float:
    reply = await sip.ami.action("QueuePause", Queue=QUEUE, Interface=f"PJSIP/{ext}",
                                 Paused="true" if paused else "false", Reason=reason)
    assert reply.get("Response") == "Success", dict(reply)
    return await stamp(sip, "QueueMemberPause", ext, Paused="1" if paused else "0")


async def stamp(sip: Sip, event: str, ext: str, **fields: str) -> float:
    """The Timestamp of the newest `event` of the member (Asterisk's own clock, as the router reads it)."""
    e = await sip.event(lambda e: e.get("Event") == event and e.get("Interface") == f"PJSIP/{ext}"
                        and all(e.get(k) == v for k, v in fields.items()) and id(e) not in SEEN)
    SEEN.add(id(e))
    return float(e["Timestamp"])


SEEN: set[int] = set()


async def answered_call(sip: Sip, number: str) -> dict:
    call = await sip.trunk_call(LINE, number)
    assert (await call.result()).code == 200
    return await sip.outcome(number)


async def abandoned_call(sip: Sip, number: str, after: float) -> dict:
    call = await sip.trunk_abandon(LINE, number, after)
    result = await call.result()
    assert (result.status, result.code) == (0, 487), "the caller gave up before anyone answered"
    return await sip.outcome(number)


def talk_spans(sip: Sip, ext: str) -> list[tuple[float, float]]:
    """(AgentConnect, AgentComplete) Timestamps of the member's conversations."""
    starts = [float(e["Timestamp"]) for e in sip.events("AgentConnect", Queue=QUEUE, Interface=f"PJSIP/{ext}")]
    ends = [float(e["Timestamp"]) for e in sip.events("AgentComplete", Queue=QUEUE, Interface=f"PJSIP/{ext}")]
    assert len(starts) == len(ends)
    return list(zip(starts, ends, strict=True))


def tenths(seconds: float) -> float:
    return round(seconds * 10) / 10


async def test_a_day_on_a_real_queue_gives_the_hand_worked_figures(sip):
    numbers = {x: f"+7903111{n}" for x, n in (("A", "5001"), ("B", "5002"), ("C", "5003"), ("D", "5004"))}
    await sip.phone("151", answers(after=1.0, talk=1.0))
    in_151 = [await log_in(sip, "151")]
    paused_at = await pause(sip, "151", True, "lunch")  # while the other phones start and register
    await sip.phone("152", answers(after=4.5, talk=1.0))
    await sip.phone("153", rings())
    back_at = await pause(sip, "151", False)
    a = await answered_call(sip, numbers["A"])
    out_151 = [await log_out(sip, "151")]
    in_152 = await log_in(sip, "152")
    b = await answered_call(sip, numbers["B"])
    out_152 = await log_out(sip, "152")
    in_153 = await log_in(sip, "153")
    c = await abandoned_call(sip, numbers["C"], after=7.0)
    d = await abandoned_call(sip, numbers["D"], after=2.0)
    out_153 = await log_out(sip, "153")
    in_151.append(await log_in(sip, "151"))
    call_e = await sip.trunk_call(LINE, numbers["A"])
    assert (await call_e.result()).code == 200
    e = await second_outcome(sip, numbers["A"])
    out_151.append(await log_out(sip, "151"))

    # what the router recorded of each call: who, how long it waited, why it ended
    assert [(o["result"], o["by"], o["queue"]) for o in (a, b, e)] == [("answered", f"PJSIP/{x}", QUEUE)
                                                                       for x in ("151", "152", "151")]
    assert [o["reason"] for o in (c, d)] == ["caller hung up before anyone answered"] * 2
    waits = {x: o["ring_seconds"] for x, o in zip("ABCDE", (a, b, c, d, e), strict=True)}
    assert math.floor(waits["A"]) <= T < math.floor(waits["B"]) and math.floor(waits["E"]) <= T
    assert waits["D"] < 5 <= waits["C"], "one abandon under the short threshold, one over it"
    assert all(o.get("wrapup_seconds") == WRAPUP for o in (a, b, e)), "the member's own Wrapuptime"
    assert len(sip.events("AgentRingNoAnswer", Queue=QUEUE, Interface="PJSIP/153")) == 1

    day = datetime.fromtimestamp(in_151[0], ZONE).date().isoformat()
    report, rows, agent_rows = await report_and_csv(sip, day, {"151", "152", "153"})
    queue = next(r for r in report["standard"]["queues"] if r["name"] == QUEUE)
    agents = {r["name"]: r for r in report["standard"]["agents"]}

    # by hand: offered A B C E (D is a short abandon, apart); answered A B E, inside T: A and E
    assert (queue["offered"], queue["answered"], queue["abandoned"], queue["short_abandoned"]) == (4, 3, 1, 1)
    assert (queue["service_level"], queue["service_level_seconds"]) == (0.5, T)
    assert queue["service_level2"] == 0.6  # (A, E + D within 3 s) / (3 answered + 2 abandoned)
    assert queue["asa_seconds"] == round((waits["A"] + waits["B"] + waits["E"]) / 3, 1)
    assert queue["asa_p90_seconds"] == math.floor(waits["B"])  # nearest rank: the 3rd of 3
    assert queue["abandon_rate"] == 0.25
    talks = [o["talk_seconds"] for o in (a, b, e)]
    assert queue["aht_seconds"] == round(sum(t + WRAPUP for t in talks) / 3, 1)
    assert (queue["fcr_rate"], queue["recall_rate"]) == (round(2 / 3, 4), 0.25)  # A was followed by E
    recall = e_start(e) - e_start(a)
    assert queue["recall_median_seconds"] == max(60, math.ceil(recall / 60) * 60)

    # agent states, worked from Asterisk's own timestamps of the events the router read: each member's day
    # laid out as spans (available, paused, talk, wrap-up for 1 s or until the logout), each counted in tenths
    def worked(ext: str, sessions: list[tuple[float, float]], pauses: tuple[tuple[float, float], ...] = ()
               ) -> dict[str, float]:
        spans: list[tuple[float, float, str]] = [(start, end, "talk") for start, end in talk_spans(sip, ext)]
        spans += [(start, end, "paused") for start, end in pauses]
        for _, end, state in list(spans):
            if state == "talk":
                spans.append((end, min(end + WRAPUP, next(out for _, out in sessions if out >= end)), "wrapup"))
        for login, out in sessions:
            edges = sorted([login, out, *(t for a, b, _ in spans if login <= a <= out for t in (a, b))])
            busy = [(a, b) for a, b, _ in spans if login <= a <= out]
            spans += [(a, b, "available") for a, b in itertools.pairwise(edges)
                      if b > a and not any(x <= a and b <= y for x, y in busy)]
        total = {"talk": 0.0, "paused": 0.0, "wrapup": 0.0, "available": 0.0}
        for a, b, state in spans:
            total[state] += tenths(b - a)
        return total

    lunch = tenths(back_at - paused_at)
    by_hand = {"151": worked("151", list(zip(in_151, out_151, strict=True)), ((paused_at, back_at),)),
               "152": worked("152", [(in_152, out_152)]), "153": worked("153", [(in_153, out_153)])}
    for ext, hand in by_hand.items():
        row = agents[f"PJSIP/{ext}"]
        for state in ("talk", "paused", "wrapup", "available"):
            assert row[f"{state}_seconds"] == pytest.approx(hand[state], abs=0.11), (ext, state)
        assert row["occupancy"] == pytest.approx(hand["talk"] / (hand["talk"] + hand["available"]), abs=0.005)
    a151, a153 = agents["PJSIP/151"], agents["PJSIP/153"]
    assert a151["pauses"] == [{"reason": "lunch", "pauses": 1, "seconds": pytest.approx(lunch, abs=0.11)}]
    assert lunch > 0, "the pause lasted while two phones registered"
    assert (a151["logins"], a151["logouts"], a151["answered"]) == (2, 2, 2)
    assert (a153["ring_no_answer"], a153["talk_seconds"], a153["occupancy"]) == (1, 0, 0.0)
    talk_all = sum(h["talk"] for h in by_hand.values())
    available_all = sum(h["available"] for h in by_hand.values())
    assert queue["occupancy"] == pytest.approx(talk_all / (talk_all + available_all), abs=0.005)

    # the CSV reconciles: every call figure of the queue and of each agent worked again from its rows
    for scope, name, row in [("queue", QUEUE, queue), *(("agent", n, agents[n]) for n in ("PJSIP/151", "PJSIP/152"))]:
        again = call_figures_from_csv(rows, scope, name, row["service_level_seconds"], RULES.report)
        assert {f: row[f] for f in CALL_FIGURES} == again, (scope, name)
    # and the agents' CSV: every agent figure of the queue and of each member worked again from its rows
    for scope, name, row in [("queue", QUEUE, queue), *(("agent", f"PJSIP/{x}", agents[f"PJSIP/{x}"])
                                                         for x in ("151", "152", "153"))]:
        again = agent_figures_from_csv(agent_rows, scope, name)
        assert {f: row[f] for f in AGENT_FIGURES} | {"pauses": pauses_by_reason(row)} == again, (scope, name)

    # the wallboard's today so far, once everyone has logged out, is the report's row
    counters = (await sip.store.report_counters([day]))[0]
    tiles = queues_so_far(counters, await sip.store.agents_now(), RULES.report, ZONE, out_151[-1] + 60)
    assert tiles[QUEUE] == queue

    # Asterisk's own statistics of the queue (QueueStatus, QueueParams; `Servicelevel` spelled so): SL over
    # answered calls only, SL2 with the abandons, in percent
    status = await sip.ami.action("QueueStatus", Queue=QUEUE)
    params = await sip.event(lambda m: m.get("Event") == "QueueParams" and m.get("Queue") == QUEUE)
    assert (params["Completed"], params["Abandoned"], params["ServiceLevel"]) == ("3", "2", str(T)), dict(status)
    assert float(params["ServicelevelPerf"]) == pytest.approx(100 * 2 / 3, abs=0.05)
    assert float(params["ServicelevelPerf2"]) == pytest.approx(100 * queue["service_level2"], abs=0.05)


def e_start(o: dict) -> float:
    return o["ended_at"] - o["ring_seconds"] - o["talk_seconds"]


async def second_outcome(sip: Sip, number: str) -> dict:
    """The newer of two inbound outcomes of `number` (its second call)."""
    async with asyncio.timeout(30):
        while True:
            found = [json.loads(f["o"]) for _, f in await sip.r.xrange(sip.keys.outcomes)]
            mine = [o for o in found if o["number"] == number and o["direction"] == "inbound"]
            if len(mine) == 2:
                return mine[1]
            await asyncio.sleep(0.1)


async def report_and_csv(sip: Sip, day: str, agents: set[str]
                         ) -> tuple[dict, list[dict[str, str]], list[dict[str, str]]]:
    """The report, the calls' CSV (the queue's rows) and the agents' CSV from the running router's API, once it
    has written every member's logout."""
    async with asyncio.timeout(30):
        while True:
            now = await sip.store.agents_now()
            if all(now.get(f"PJSIP/{x}", {}).get("state") == "logged_out" for x in agents):
                break
            await asyncio.sleep(0.1)
    base = f"http://127.0.0.1:{sip.stack.http_port}"
    if await sip.store.user("numbers-head") is None:  # other tests of the session may have made accounts
        await add_user(sip.store, "numbers-head", "head")
    headers = {"Authorization": f"Bearer {await user_token(sip.store, 'numbers-head')}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{base}/api/report?day={day}") as resp:
            assert resp.status == 200, await resp.text()
            report = await resp.json()
        async with http.get(f"{base}/api/report/calls.csv?day={day}") as resp:
            assert resp.status == 200, await resp.text()
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
        async with http.get(f"{base}/api/report/agents.csv?day={day}") as resp:
            assert resp.status == 200, await resp.text()
            agent_rows = list(csv.DictReader(io.StringIO(await resp.text())))
    return report, [r for r in rows if r["queue"] == QUEUE], agent_rows
