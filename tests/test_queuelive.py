"""Each queue now, folded from AMI events: real recordings, then each event app_queue sends, one at a time."""

from __future__ import annotations

import json

import pytest

from router.asterisk.amiwire import Framer
from router.asterisk.queuelive import MAX_UNRESOLVED, QueueLive
from tests.asterisk import AMI_RECORDINGS

T0 = 1_795_337_800.0


def day_of(t: float) -> str:
    return "d1" if t < T0 + 86400 else "d2"


def ev(name: str, **fields: str) -> dict:
    return {"Event": name, **fields}


def member(name: str, interface: str, queue: str = "support", status: str = "1", paused: str = "0",
           reason: str = "", in_call: str = "0", event: str = "QueueMemberStatus", **more: str) -> dict:
    return ev(event, **{"Queue": queue, "MemberName": name, "Interface": interface, "StateInterface": interface,
                        "Status": status, "Paused": paused, "PausedReason": reason, "InCall": in_call,
                        "Wrapuptime": "0", "LastCall": "0", "LoginTime": "0", **more})


def replay(name: str) -> QueueLive:
    data = (AMI_RECORDINGS / f"{name}.txt").read_bytes()
    times = [r["recv_ts"] for r in map(json.loads, (AMI_RECORDINGS / f"{name}.jsonl").read_text().splitlines())
             if r["dir"] == "recv" and r["kind"] == "message"]
    live = QueueLive(lambda t: "day")
    for m, t in zip(Framer().feed(data), times, strict=True):
        live.feed(m, t)
    return live


def counts(live: QueueLive) -> dict[str, tuple[dict[int, int], dict[int, int], int]]:
    return {n: (dict(q.today.answered), dict(q.today.abandoned), q.today.timed_out) for n, q in live.queues.items()}


@pytest.mark.parametrize(("name", "expected"), [
    ("ami_d_queue_abandon", {"new-connection": ({}, {7: 1}, 0)}),
    ("ami_e_queue_answered", {"new-connection": ({2: 1}, {}, 0)}),
    # a queue timeout raises QueueCallerAbandon too: the caller went on to the next step, so it is no abandon
    ("ami_k_chain_busy_queue_timeout_then_answered", {"new-connection": ({}, {}, 1)}),
    ("ami_q_shipped_dialplan_busy_queue_timeout_answered", {"operators": ({}, {}, 1)}),
    ("ami_s_shipped_dialplan_router_down_fallback_queue", {"support": ({0: 1}, {}, 0)}),
])
def test_recorded_queue_calls_count_as_answered_abandoned_or_timed_out(name, expected):
    live = replay(name)
    assert counts(live) == expected
    assert all(not q.waiting for q in live.queues.values()) and live.unresolved == {}


def test_longest_wait_is_the_first_waiting_callers_from_join_times():
    live = QueueLive(day_of)
    live.feed(ev("QueueCallerJoin", Queue="support", Uniqueid="1.1", Position="1"), T0)
    live.feed(ev("QueueCallerJoin", Queue="support", Uniqueid="1.2", Position="2"), T0 + 30)
    [q] = live.snapshot(T0 + 95)
    assert (q["waiting"], q["longest_wait"]) == (2, 95)
    live.feed(ev("QueueCallerLeave", Queue="support", Uniqueid="1.1"), T0 + 96)
    [q] = live.snapshot(T0 + 100)
    assert (q["waiting"], q["longest_wait"]) == (1, 70)
    live.feed(ev("QueueCallerLeave", Queue="support", Uniqueid="1.2"), T0 + 101)
    [q] = live.snapshot(T0 + 200)
    assert (q["waiting"], q["longest_wait"]) == (0, 0)


def test_a_caller_who_hangs_up_after_abandon_is_abandoned_one_who_goes_on_timed_out():
    live = QueueLive(day_of)
    for uid in ("1.1", "1.2", "1.3"):
        live.feed(ev("QueueCallerJoin", Queue="support", Uniqueid=uid), T0)
        live.feed(ev("QueueCallerAbandon", Queue="support", Uniqueid=uid, HoldTime="12"), T0 + 12)
        live.feed(ev("QueueCallerLeave", Queue="support", Uniqueid=uid), T0 + 12)
    assert counts(live) == {"support": ({}, {}, 0)}, "undecided until the channel says which"
    live.feed(ev("Hangup", Uniqueid="1.1"), T0 + 13)
    live.feed(ev("VarSet", Uniqueid="1.2", Variable="QUEUESTATUS", Value="TIMEOUT"), T0 + 12)
    live.feed(ev("DialBegin", Uniqueid="1.3", DestChannel="PJSIP/900-1"), T0 + 13)
    live.feed(ev("Hangup", Uniqueid="1.2"), T0 + 40)
    live.feed(ev("Hangup", Uniqueid="1.3"), T0 + 40)
    assert counts(live) == {"support": ({}, {12: 1}, 2)}


def test_callers_left_undecided_are_bounded():
    live = QueueLive(day_of)
    for i in range(MAX_UNRESOLVED + 5):
        live.feed(ev("QueueCallerAbandon", Queue="support", Uniqueid=f"1.{i}", HoldTime="3"), T0)
    assert len(live.unresolved) == MAX_UNRESOLVED
    assert live.queues["support"].today.timed_out == 5, "the oldest undecided are counted, not kept"


def test_member_states_from_device_status_pause_and_call():
    live = QueueLive(day_of)
    live.feed(member("Ivanov", "PJSIP/101"), T0)
    live.feed(member("Petrova", "PJSIP/102", status="2", in_call="1"), T0)
    live.feed(member("Sidorov", "PJSIP/103", paused="1", reason="lunch", LastPause=str(int(T0 - 60))), T0)
    live.feed(member("Smirnov", "PJSIP/104", status="5"), T0)
    live.feed(member("Kuznetsov", "PJSIP/105", status="6"), T0)
    [q] = live.snapshot(T0 + 1)
    assert q["agents"] == {"available": 1, "ringing": 1, "on_call": 1, "wrapup": 0, "paused": 1, "offline": 1}
    sidorov = next(m for m in q["members"] if m["name"] == "Sidorov")
    assert (sidorov["state"], sidorov["reason"], sidorov["since"]) == ("paused", "lunch", T0 - 60)
    live.feed(member("Sidorov", "PJSIP/103", event="QueueMemberPause"), T0 + 5)
    [q] = live.snapshot(T0 + 6)
    sidorov = next(m for m in q["members"] if m["name"] == "Sidorov")
    assert (sidorov["state"], sidorov["reason"], sidorov["since"]) == ("available", "", None)


def test_a_member_is_in_wrap_up_after_a_call_for_its_own_or_the_queues_time():
    live = QueueLive(day_of, wrapup_of=lambda queue: {"support": 10}.get(queue, 0))
    live.feed(member("Ivanov", "PJSIP/101"), T0)
    live.feed(member("Petrova", "PJSIP/102", Wrapuptime="30"), T0)
    live.feed(ev("QueueCallerJoin", Queue="support", Uniqueid="1.1"), T0)
    live.feed(ev("AgentConnect", Queue="support", Uniqueid="1.1", Interface="PJSIP/101", HoldTime="4"), T0 + 4)
    assert live.member_state(live.queues["support"].members["PJSIP/101"], "support", T0 + 5) == "on_call"
    for who in ("PJSIP/101", "PJSIP/102"):
        live.feed(ev("AgentComplete", Queue="support", Interface=who, TalkTime="60"), T0 + 64)
    states = {m["interface"]: m["state"] for m in live.snapshot(T0 + 70)[0]["members"]}
    assert states == {"PJSIP/101": "wrapup", "PJSIP/102": "wrapup"}
    states = {m["interface"]: m["state"] for m in live.snapshot(T0 + 80)[0]["members"]}
    assert states == {"PJSIP/101": "available", "PJSIP/102": "wrapup"}


def test_logins_logouts_and_ring_no_answer_of_the_day():
    live = QueueLive(day_of)
    live.feed(member("Ivanov", "Local/101@agents", event="QueueMemberAdded", Membership="dynamic"), T0)
    for at in (T0 + 10, T0 + 40):
        live.feed(ev("AgentRingNoAnswer", Queue="support", Interface="Local/101@agents", RingTime="15000"), at)
    [q] = live.snapshot(T0 + 50)
    assert [(m["name"], m["ring_no_answer"]) for m in q["members"]] == [("Ivanov", 2)]
    assert live.snapshot(T0 + 86400 + 1)[0]["members"][0]["ring_no_answer"] == 0, "a new day starts at 0"
    live.feed(ev("QueueMemberRemoved", Queue="support", Interface="Local/101@agents", MemberName="Ivanov"), T0 + 60)
    assert live.snapshot(T0 + 61)[0]["members"] == []


def test_the_days_counts_start_afresh_on_a_new_company_day():
    live = QueueLive(day_of)
    live.feed(ev("AgentConnect", Queue="support", Uniqueid="1.1", Interface="PJSIP/101", HoldTime="4"), T0 + 10)
    assert sum(live.day_counts(T0 + 20)["support"].answered.values()) == 1
    assert sum(live.day_counts(T0 + 86400 + 5)["support"].answered.values()) == 0
    live.feed(ev("AgentConnect", Queue="support", Uniqueid="1.2", Interface="PJSIP/101", HoldTime="9"), T0 + 86400 + 9)
    assert dict(live.day_counts(T0 + 86400 + 10)["support"].answered) == {9: 1}


def test_queue_status_read_after_a_reconnect_replaces_the_queues_it_names():
    live = QueueLive(day_of)
    live.feed(ev("QueueCallerJoin", Queue="support", Uniqueid="gone.1"), T0)
    live.feed(member("Ghost", "PJSIP/199"), T0)
    live.feed(ev("AgentConnect", Queue="support", Uniqueid="1.0", Interface="PJSIP/199", HoldTime="3"), T0)
    live.seed([
        ev("QueueParams", Queue="support", Max="0", Strategy="rrmemory", Calls="1"),
        ev("QueueMember", Queue="support", Name="Ivanov", Location="PJSIP/101", StateInterface="PJSIP/101",
           Status="1", Paused="1", PausedReason="training", InCall="0", LastCall="0", LastPause="0", Wrapuptime="0"),
        ev("QueueEntry", Queue="support", Position="1", Uniqueid="1.5", CallerIDNum="+79161234567", Wait="42"),
        ev("QueueStatusComplete", EventList="Complete"),
    ], T0 + 100)
    [q] = live.snapshot(T0 + 110)
    assert (q["waiting"], q["longest_wait"]) == (1, 52)
    assert [(m["name"], m["state"], m["reason"]) for m in q["members"]] == [("Ivanov", "paused", "training")]
    assert dict(live.day_counts(T0 + 110)["support"].answered) == {3: 1}, "the day's counts are kept"


def test_events_of_no_interest_change_nothing():
    live = QueueLive(day_of)
    for e in (ev("Newchannel", Uniqueid="1.1"), ev("Hangup", Uniqueid="1.1"), ev("DeviceStateChange")):
        live.feed(e, T0)
    assert not live.take_changed() and live.snapshot(T0) == []
