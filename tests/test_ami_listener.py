"""The AMI listener against the AMI simulator, with real Redis and the real router."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random

import pytest

from router.asterisk.ami import AMITarget, Listener
from router.asterisk.amisim import block, recorded_events
from router.asterisk.callsim import call
from router.core.outcome import Outcome
from tests.asterisk import AMI_RECORDINGS
from tests.helpers import MONDAY_10, RULES, RULES_TEXT, Clock, ami_target, compiled, wait_for


async def started(listener: Listener) -> Listener:
    listener.start()
    await asyncio.wait_for(listener.synced.wait(), 10)
    return listener


def test_ami_address_and_secret():
    t = AMITarget.parse("ami://router@pbx.local:5038", "x")
    assert (t.host, t.port, t.username, t.secret) == ("pbx.local", 5038, "router", "x")
    assert AMITarget.parse("ami://u:p%40ss@h").secret == "p@ss"
    with pytest.raises(ValueError, match="ROUTER_AMI_SECRET"):
        AMITarget.parse("ami://u@h")
    with pytest.raises(ValueError, match="ami://USER"):
        AMITarget.parse("http://h")


async def test_resync_reads_device_states_into_the_busy_set(ami, store):
    ami.devices = {"PJSIP/101": "INUSE", "PJSIP/102": "NOT_INUSE"}
    ami.members = [{"Queue": "support", "Location": "PJSIP/103", "StateInterface": "PJSIP/103", "Status": "2"}]
    listener = await started(Listener(ami_target(ami), store))
    try:
        await listener.flush()
        assert await store.busy() == {"PJSIP/101", "PJSIP/103"}
        assert {a.get("Action") for a in ami.actions} >= {"Login", "DeviceStateList", "QueueStatus",
                                                         "CoreShowChannels"}
    finally:
        await listener.stop()


async def test_manager_reported_busy_by_ami_is_skipped_with_the_rules_escalation(ami, store, serve):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov"})])
    r = await serve(RULES, Clock(MONDAY_10), ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    assert (await call(r.agi.port, "+79035550101", uid=1)).chain()[0][1] == "PJSIP/101"
    await ami.push(block(("Event", "DeviceStateChange"), ("Privilege", "call,all"), ("Device", "PJSIP/101"),
                         ("State", "INUSE")))
    await wait_for(lambda: not r.ami.pending and r.ami.received >= 2)
    await r.ami.flush()
    assert (await call(r.agi.port, "+79035550101", uid=2)).chain()[0][1] == "management"


@contextlib.asynccontextmanager
async def two_instances_replaying_a_missed_call(ami, store, seed: int, **kw):
    """Two listeners on one AMI stream and one store, as two routers; yields the outcomes they pass on."""
    one = await started(Listener(ami_target(ami), store, **kw))
    two = await started(Listener(ami_target(ami), store, **kw))
    seen: list[dict] = []
    one.on_outcome = two.on_outcome = seen.append
    try:
        await ami.push(recorded_events((AMI_RECORDINGS / "ami_b_inbound_missed_caller_hangup.txt").read_bytes()),
                       random.Random(seed))
        await wait_for(lambda: not one.tracker.calls and not two.tracker.calls and one.received > 50
                       and two.received > 50)
        await one.flush()
        await two.flush()
        yield seen
    finally:
        await one.stop()
        await two.stop()


async def test_recorded_calls_are_recorded_once_with_two_router_instances(ami, store):
    async with two_instances_replaying_a_missed_call(ami, store, 5) as seen:
        assert [(o.number, o.result) for o in seen] == [("+79161112233", "missed")]
        rows = await store.r.xrange(store.k.outcomes)
        assert len(rows) == 1
        assert (await store.number_state("+79161112233"))["in_ok"] == "0"


async def test_the_call_becomes_the_numbers_event_once_in_the_outcomes_own_writes(ami, store):
    asked: list[str] = []

    def also(o: Outcome) -> list[tuple]:  # what the risk engine adds: the call as the number's dated event
        asked.append(o.linkedid)
        return store.call_event_writes(o.number, f"call:{o.linkedid}", o.ended_at, "the call", 0, o.ended_at)

    async with two_instances_replaying_a_missed_call(ami, store, 7, outcome_writes=also) as seen:
        assert len(asked) == 1, "only the instance that claimed the outcome writes the event"
        assert await store.r.zrange(store.k.events("+79161112233"), 0, -1) == ["the call"]
        [o] = seen
        assert o.open_task == "" and o.type == "", "read in the claim's round trip, for what follows"


async def test_outcome_is_attached_to_the_routers_decision(ami, store, serve):
    r = await serve(RULES, Clock(MONDAY_10), ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    v = (await call(r.agi.port, "+79201234567", uid=1)).variables
    stream = (AMI_RECORDINGS / "ami_a_inbound_answered.txt").read_bytes().replace(
        b"Variable: ROUTE_TARGET\r\nValue: Local/agent1@agents",
        f"Variable: ROUTE_DECISION\r\nValue: {v['ROUTE_DECISION']}".encode())
    await ami.push(recorded_events(stream), random.Random(1))
    await wait_for(lambda: not r.ami.tracker.calls and r.ami.received > 90)
    await r.ami.flush()
    await r.router.log.flush()
    newest = (await r.router.log.newest(5))[0]
    assert newest["id"] == v["ROUTE_DECISION"]
    assert newest["outcome"]["result"] == "answered" and newest["outcome"]["by"] == "Local/agent1@agents"


async def test_answered_callback_makes_the_next_call_a_callback_after_a_conversation(ami, store, serve):
    clock = Clock(MONDAY_10)
    r = await serve(RULES, clock, ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    await ami.push(recorded_events((AMI_RECORDINGS / "ami_f_outbound_callback_answered.txt").read_bytes()))
    await wait_for(lambda: r.ami.received > 100 and not r.ami.tracker.calls)
    await r.ami.flush()
    state = await store.number_state("+79209876543")
    assert state["out_ok"] == "1"
    clock.t = float(state["out"]) + 600
    v = (await call(r.agi.port, "+79209876543")).variables
    assert v["ROUTE_CALLER_KIND"] == "callback"


async def test_dropped_connection_mid_call_loses_no_outcome(ami, store):
    listener = await started(Listener(ami_target(ami), store))
    listener.backoff = 0.05
    try:
        events = recorded_events((AMI_RECORDINGS / "ami_e_queue_answered.txt").read_bytes())
        cut = events.index(b"Event: AgentConnect")
        first, rest = events[:cut], events[cut:]
        await ami.push(first)
        await wait_for(lambda: listener.tracker.calls)
        live = [{"Channel": c, "Uniqueid": u, "Linkedid": "1795337821.22"} for c, u in (
            ("Local/3000@from-pstn-0000000b;1", "1795337821.22"), ("Local/3000@from-pstn-0000000b;2", "1795337821.23"),
            ("Local/agent1@agents-0000000e;1", "1795337821.28"), ("Local/agent1@agents-0000000e;2", "1795337821.29"))]
        ami.channels = live
        logins = ami.logins
        listener.synced.clear()
        ami.drop()
        await wait_for(lambda: ami.logins > logins and listener.synced.is_set())
        assert listener.tracker.calls, "the call still in progress was kept across the reconnect"
        await ami.push(rest)
        await wait_for(lambda: not listener.tracker.calls)
        await listener.flush()
        rows = await store.r.xrange(store.k.outcomes)
        assert [json.loads(f["o"])["result"] for _, f in rows] == ["answered"]
    finally:
        await listener.stop()


async def test_call_that_ended_while_disconnected_is_closed_on_resync(ami, store):
    listener = await started(Listener(ami_target(ami), store))
    listener.backoff = 0.05
    try:
        events = recorded_events((AMI_RECORDINGS / "ami_b_inbound_missed_caller_hangup.txt").read_bytes())
        await ami.push(events[: events.index(b"Event: HangupRequest")])
        await wait_for(lambda: listener.tracker.calls)
        ami.channels = []
        ami.drop()
        await wait_for(lambda: not listener.tracker.calls and listener.synced.is_set())
        await listener.flush()
        rows = await store.r.xrange(store.k.outcomes)
        o = json.loads(rows[0][1]["o"])
        assert (o["result"], o["reason"]) == ("missed", "ended while the AMI connection was down")
    finally:
        await listener.stop()


async def test_garbage_on_the_stream_is_survived(ami, store):
    listener = await started(Listener(ami_target(ami), store))
    try:
        await ami.push(b"\xff\xfe\x00garbage\r\n\r\nEvent: \r\n\r\nno colon here\r\n\r\n")
        await ami.push(block(("Event", "DeviceStateChange"), ("Device", "PJSIP/109"), ("State", "BUSY")))
        await wait_for(lambda: listener.events >= 2)
        await listener.flush()
        assert "PJSIP/109" in await store.busy()
        assert listener.manager.protocol is not None and not listener.manager.protocol.closed
    finally:
        await listener.stop()


async def test_missed_call_from_ami_opens_a_follow_up_and_a_reached_callback_closes_it(ami, store, serve):
    # the recording replays at one instant of the test's clock: a 0 s ring, a short abandon but for this
    r = await serve(compiled(RULES_TEXT + "\nfollowup: {short_abandons: true}\n"), Clock(MONDAY_10),
                    ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    await ami.push(recorded_events((AMI_RECORDINGS / "ami_b_inbound_missed_caller_hangup.txt").read_bytes()))
    await wait_for(lambda: r.ami.received > 70 and not r.ami.tracker.calls)
    await r.ami.flush()
    [task] = await r.router.followups.worklist("open")
    assert task["number"] == "+79161112233"
    recorded = (AMI_RECORDINGS / "ami_f_outbound_callback_answered.txt").read_bytes()
    callback = recorded.replace(b"+79209876543", b"+79161112233")  # our callback to the caller who missed us
    await ami.push(recorded_events(callback))
    await wait_for(lambda: r.ami.received > 230 and not r.ami.tracker.calls)
    await r.ami.flush()
    assert await r.router.followups.worklist("open") == []
    [closed] = await r.router.followups.worklist("closed")
    assert closed["closed_reason"].startswith("closed automatically: callback answered by the customer")


async def test_a_phone_ringing_for_a_routed_caller_reaches_the_live_stream_and_the_ring_listeners(ami, store, serve):
    r = await serve(RULES, Clock(MONDAY_10), ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    heard: list = []
    r.router.ring_listeners.append(heard.append)
    sub = r.router.broadcast.subscribe()
    await ami.push(recorded_events((AMI_RECORDINGS / "ami_c_busy_then_second_target.txt").read_bytes()))
    await wait_for(lambda: len(heard) == 4)
    assert [ring.state for ring in heard] == ["ringing", "ended", "ringing", "answered"]
    live = []
    while len(live) < 4:
        event = json.loads((await asyncio.wait_for(sub.next(), 5)).partition(b"\ndata: ")[2])
        if event["type"] == "ring":
            live.append(event["ring"]["state"])
    assert live == ["ringing", "ended", "ringing", "answered"]
    r.router.broadcast.unsubscribe(sub)
