"""Queue members' states and a queue call with hold and wrap-up, from AMI events over the AMI simulator's socket
into real Redis, read back as the report's standard figures."""

from __future__ import annotations

import asyncio

from router.asterisk.ami import Listener
from router.asterisk.amisim import block
from router.reports.reader import report, so_far_today
from router.reports.sofar import queues_so_far
from router.reports.tally import Calendar
from tests.helpers import MONDAY, MONDAY_9, MSK, RULES_TEXT, ami_target, compiled, wait_for

AGENT = "PJSIP/101"
RULES = compiled(RULES_TEXT + "\nreport: {service_level: 20s, queues: {support: {wrapup: 15s}}}\n")


def event(name: str, at: float, **fields: str) -> bytes:
    return block(("Event", name), ("Privilege", "agent,all"), ("Timestamp", f"{at:.6f}"), *fields.items())


def member(name: str, at: float, paused: str = "0", reason: str = "", wrapup: str = "0") -> bytes:
    return event(name, at, Queue="support", MemberName="Anna", Interface=AGENT, StateInterface=AGENT,
                 Membership="dynamic", Penalty="0", CallsTaken="0", LastCall="0", LastPause="0", LoginTime="0",
                 InCall="0", Status="1", Paused=paused, PausedReason=reason, Ringinuse="0", Wrapuptime=wrapup)


def queue_call(at: float, wait: float, talk: float, hold: tuple[float, float], handed_on: float | None = None
               ) -> bytes:
    """A customer's call that waits `wait` s in `support`, is answered by AGENT, put on hold for hold[1] s from
    hold[0] s into the talk, and hung up by the customer after `talk` s; `handed_on`: AGENT transferred the
    caller that many seconds into the talk (AgentComplete `Reason: transfer`), the call went on."""
    lid, caller, agent = "1795337767.10", "1795337767.10", "1795337767.11"
    chan, agent_chan = "PJSIP/trunk-0000000a", "PJSIP/101-0000000b"
    answered = at + wait
    common = {"Linkedid": lid}
    return b"".join([
        event("Newchannel", at, Channel=chan, Uniqueid=caller, CallerIDNum="+79035550101", **common),
        event("QueueCallerJoin", at, Channel=chan, Uniqueid=caller, Queue="support", Position="1", **common),
        event("AgentCalled", at + 0.1, Channel=chan, Uniqueid=caller, DestChannel=agent_chan, DestUniqueid=agent,
              Queue="support", Interface=AGENT, **common),
        event("Newchannel", at + 0.1, Channel=agent_chan, Uniqueid=agent, CallerIDNum="101", **common),
        event("DialBegin", at + 0.1, Channel=chan, Uniqueid=caller, DestChannel=agent_chan, DestUniqueid=agent,
              DialString="PJSIP/101", **common),
        event("DialEnd", answered, Channel=chan, Uniqueid=caller, DestChannel=agent_chan, DestUniqueid=agent,
              DialStatus="ANSWER", **common),
        event("AgentConnect", answered, Channel=chan, Uniqueid=caller, DestChannel=agent_chan, DestUniqueid=agent,
              Queue="support", Interface=AGENT, HoldTime=str(int(wait)), RingTime="3", **common),
        event("Hold", answered + hold[0], Channel=chan, Uniqueid=caller, MusicClass="default", **common),
        event("Unhold", answered + hold[0] + hold[1], Channel=chan, Uniqueid=caller, **common),
        event("AgentComplete", answered + (handed_on or talk), Channel=chan, Uniqueid=caller, DestChannel=agent_chan,
              DestUniqueid=agent, Queue="support", Interface=AGENT, HoldTime=str(int(wait)),
              TalkTime=str(int(handed_on or talk)), Reason="transfer" if handed_on else "caller", **common),
        event("Hangup", answered + talk, Channel=chan, Uniqueid=caller, Cause="16", **common),
        event("Hangup", answered + talk, Channel=agent_chan, Uniqueid=agent, Cause="16", **common),
    ])


async def test_a_day_of_one_agent_from_ami_gives_the_hand_worked_figures(ami, store):
    """Anna logs in at 09:00 (her own wrap-up: none, the queue's 15 s), takes a call at 09:10 that waited 12 s
    (talk 300 s, 40 s of it on hold), pauses for `lunch` 09:30-10:00, misses a ring at 10:05, logs out 10:30.
    By hand: available 09:00-09:10:12, 09:15:27-09:30, 10:00-10:30 = 612 + 873 + 1800 = 3285 s; talk 300 s;
    occupancy 300 / 3585 = 0.0837; handle 300 + 40 + 15 = 355 s; SL (T 20 s) 1/1; ASA 12 s."""
    store.calendar = Calendar(MSK)
    listener = Listener(ami_target(ami), store)
    listener.agents.queue_wrapup = RULES.rs.report.wrapup_of
    listener.start()
    try:
        await asyncio.wait_for(listener.synced.wait(), 10)
        t0 = MONDAY_9
        await ami.push(member("QueueMemberAdded", t0)
                       + queue_call(t0 + 600, 12, 300, (100, 40))
                       + member("QueueMemberPause", t0 + 1800, "1", "lunch")
                       + member("QueueMemberPause", t0 + 3600, "0")
                       + event("AgentRingNoAnswer", t0 + 3900, Queue="support", Interface=AGENT, RingTime="15000")
                       + event("QueueMemberRemoved", t0 + 5400, Queue="support", Interface=AGENT, MemberName="Anna"))
        await wait_for(lambda: listener.received >= 17 and not listener.pending)
        await listener.flush()
        day = await report(store, RULES, [MONDAY], t0 + 6000)
    finally:
        await listener.stop()
    fig = day["standard"]
    [anna] = fig["agents"]
    assert (anna["name"], anna["answered"], anna["talk_seconds"], anna["available_seconds"]) == (AGENT, 1, 300, 3285)
    assert anna["occupancy"] == round(300 / 3585, 4) == 0.0837
    assert anna["pauses"] == [{"reason": "lunch", "pauses": 1, "seconds": 1800.0}]
    assert (anna["ring_no_answer"], anna["logins"], anna["logouts"], anna["wrapup_seconds"]) == (1, 1, 1, 15)
    assert anna["aht_seconds"] == 300 + 40 + 15
    [support] = fig["queues"]
    assert (support["service_level"], support["asa_seconds"], support["occupancy"]) == (1.0, 12.0, 0.0837)
    assert (await store.agents_now())[AGENT]["state"] == "logged_out"


async def test_the_wallboard_reads_today_so_far_with_the_open_state_counted_to_now(ami, store):
    store.calendar = Calendar(MSK)
    listener = Listener(ami_target(ami), store)
    listener.start()
    try:
        await asyncio.wait_for(listener.synced.wait(), 10)
        await ami.push(member("QueueMemberAdded", MONDAY_9) + member("QueueMemberPause", MONDAY_9 + 600, "1", "")
                       + member("QueueMemberPause", MONDAY_9 + 900, "0"))
        await wait_for(lambda: listener.received >= 3 and not listener.pending)
        await listener.flush()
        counters = (await store.report_counters([MONDAY]))[0]
        now = await store.agents_now()
    finally:
        await listener.stop()
    assert now[AGENT] == {"state": "available", "since": MONDAY_9 + 900, "queues": ["support"], "reason": ""}
    tiles = queues_so_far(counters, now, RULES.rs.report, MSK, MONDAY_9 + 1200)
    # available 09:00-09:10 written, 09:15-09:20 still open; paused 5 min with no reason
    assert (tiles["support"]["available_seconds"], tiles["support"]["paused_seconds"]) == (900, 300)
    assert tiles["support"]["pauses"] == [{"reason": "-", "pauses": 1, "seconds": 300.0}]
    read = await so_far_today(store, RULES, MONDAY_9 + 1200)
    assert read["queues"] == [tiles["support"]], "the store's reads give the same"


async def test_a_transfer_does_not_inflate_the_agents_handle_time(ami, store):
    """Anna answers after 5 s, talks 60 s and transfers the caller, who talks 240 s more with someone else:
    the call lasted 300 s, Anna's handling 60 + 15 s wrap-up = 75 s (not 315 s), her talk 60 s."""
    store.calendar = Calendar(MSK)
    listener = Listener(ami_target(ami), store)
    listener.agents.queue_wrapup = RULES.rs.report.wrapup_of
    listener.start()
    try:
        await asyncio.wait_for(listener.synced.wait(), 10)
        await ami.push(member("QueueMemberAdded", MONDAY_9) + queue_call(MONDAY_9 + 60, 5, 300, (0, 0), 60))
        await wait_for(lambda: listener.received >= 13 and not listener.pending)
        await listener.flush()
        day = await report(store, RULES, [MONDAY], MONDAY_9 + 3600)
        [record] = await store.calls_of(MONDAY)
    finally:
        await listener.stop()
    [anna] = day["standard"]["agents"]
    assert (record["talk_seconds"], record["agent_talk_seconds"]) == (300.0, 60.0)
    assert (anna["aht_seconds"], anna["talk_seconds"]) == (75.0, 60.0)


async def test_two_routers_following_one_asterisk_count_an_agents_day_once(ami, store):
    """Both listeners read the same events and write the same states: each state, pause and ring is counted
    once (claimed by its member, kind and end)."""
    store.calendar = Calendar(MSK)
    one, two = Listener(ami_target(ami), store), Listener(ami_target(ami), store)
    for listener in (one, two):
        listener.start()
        await asyncio.wait_for(listener.synced.wait(), 10)
    try:
        await ami.push(member("QueueMemberAdded", MONDAY_9) + member("QueueMemberPause", MONDAY_9 + 600, "1", "x")
                       + member("QueueMemberPause", MONDAY_9 + 900, "0")
                       + event("AgentRingNoAnswer", MONDAY_9 + 1000, Queue="support", Interface=AGENT)
                       + event("QueueMemberRemoved", MONDAY_9 + 1200, Queue="support", Interface=AGENT))
        await wait_for(lambda: all(x.received >= 5 and not x.pending for x in (one, two)))
        await one.flush()
        await two.flush()
        day = await report(store, RULES, [MONDAY], MONDAY_9 + 3600)
    finally:
        await one.stop()
        await two.stop()
    [anna] = day["standard"]["agents"]
    assert (anna["available_seconds"], anna["paused_seconds"]) == (900, 300)
    assert (anna["ring_no_answer"], anna["logins"], anna["logouts"]) == (1, 1, 1)
    assert len(await store.agent_log(MONDAY)) == 3 + 4  # available, paused, available; pause, ring, in, out
