"""Replaying real Asterisk AMI recordings through the framer and the call tracker."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from router.asterisk.amiwire import Framer
from router.asterisk.calltracker import CallTracker
from router.asterisk.mset import ANSWER_START
from tests.asterisk import AMI_RECORDINGS

VOIPGRID = Path(__file__).resolve().parents[1] / "fixtures" / "ami-voipgrid"

# recording -> (direction, number, result, answered by, ring s, talk s), read off each recording's events
EXPECTED = {
    "ami_a_inbound_answered": [("inbound", "+79201234567", "answered", "Local/agent1@agents", 2.3, 5.5)],
    "ami_b_inbound_missed_caller_hangup": [("inbound", "+79161112233", "missed", "", 8.0, 0.0)],
    "ami_c_busy_then_second_target": [("inbound", "+74951234567", "answered", "Local/agent1@agents", 2.3, 5.5)],
    "ami_d_queue_abandon": [("inbound", "+79035556677", "missed", "", 8.0, 0.0)],
    "ami_e_queue_answered": [("inbound", "+79037778899", "answered", "Local/agent1@agents", 2.5, 5.5)],
    "ami_f_outbound_callback_answered": [("outbound", "+79209876543", "answered", "", 3.0, 6.5)],
    "ami_g_device_state_custom_agent1": [],
    "ami_h_agi_fixture_commands": [],
    "ami_i_agi_caller_hangup_idle": [],
    "ami_j_agi_caller_hangup_during_command": [],
    "ami_k_chain_busy_queue_timeout_then_answered": [
        ("inbound", "+79031234455", "answered", "Local/agent4@agents", 9.3, 4.5)],
    "ami_l_all_steps_failed": [("inbound", "+79165554433", "missed", "", 6.3, 0.0)],
    "ami_m_outbound_callback_no_answer": [("outbound", "+79990001122", "missed", "", 20.0, 0.0)],
    "ami_n_outbound_callback_busy": [("outbound", "+79980001122", "missed", "", 0.0, 0.0)],
    "ami_o_click_to_call_agent_first_answered": [
        ("outbound", "+79209876543", "answered", "Local/agent1@agents", 3.0, 2.5)],
    "ami_p_cyrillic_long_name": [("inbound", "+78123334455", "answered", "Local/agent1@agents", 2.3, 5.5)],
    # the shipped dialplan and the shipped AMI user (no `dialplan` class, event filters): tests/live/record.py
    "ami_q_shipped_dialplan_busy_queue_timeout_answered": [
        ("inbound", "+79031234456", "answered", "Local/ok1@live-agents", 2.5, 1.5)],
    "ami_r_shipped_dialplan_every_step_failed": [("inbound", "+79165554434", "missed", "", 2.0, 0.0)],
    "ami_s_shipped_dialplan_router_down_fallback_queue": [
        ("inbound", "+79035556678", "answered", "Local/ok2@live-agents", 0.5, 1.5)],
}
REASONS = {
    "ami_b_inbound_missed_caller_hangup": "caller hung up before anyone answered",
    "ami_d_queue_abandon": "caller hung up before anyone answered",
    "ami_l_all_steps_failed": "every step failed (last: NOANSWER)",
    "ami_r_shipped_dialplan_every_step_failed": "every step failed (last: dial NOANSWER)",
}


def test_asterisks_report_of_the_routers_answer_names_the_decision_and_no_varset_is_sent():
    for name in ("ami_q_shipped_dialplan_busy_queue_timeout_answered", "ami_r_shipped_dialplan_every_step_failed"):
        messages = Framer().feed((AMI_RECORDINGS / f"{name}.txt").read_bytes())
        assert not any(m.get("Event") in ("VarSet", "Newexten", "AGIExecStart") for m in messages)
        [answer] = [m for m in messages if m.get("Event") == "AGIExecEnd"]
        assert answer["Command"].startswith(ANSWER_START) and answer["ResultCode"] == "200"
        _, outcomes, _ = replay(name)
        assert outcomes[0].decision and answer["Command"].startswith(ANSWER_START + outcomes[0].decision + ",")
    failed = Framer().feed((AMI_RECORDINGS / "ami_r_shipped_dialplan_every_step_failed.txt").read_bytes())
    assert [m["Result"] for m in failed if m.get("Event") == "UserEvent"] == ["failed"], "one UserEvent, at the end"


def replay(name: str, chunker: random.Random | None = None) -> tuple[CallTracker, list, list]:
    data = (AMI_RECORDINGS / f"{name}.txt").read_bytes()
    times = [r["recv_ts"] for r in map(json.loads, (AMI_RECORDINGS / f"{name}.jsonl").read_text().splitlines())
             if r["dir"] == "recv" and r["kind"] == "message"]
    framer, tracker, messages = Framer(), CallTracker(), []
    if chunker is None:
        messages = framer.feed(data)
    else:
        i = 0
        while i < len(data):
            n = chunker.randint(1, 200)
            messages += framer.feed(data[i:i + n])
            i += n
    assert framer.banner == "Asterisk Call Manager/11.0.0" and len(messages) == len(times)
    for m, t in zip(messages, times, strict=True):
        tracker.feed(m, t)
    outcomes, states = tracker.take()
    return tracker, outcomes, states


def summary(outcomes) -> list[tuple]:
    return [(o.direction, o.number, "answered" if o.answered else "missed", o.by, o.ring_seconds, o.talk_seconds)
            for o in outcomes]


def test_every_recording_is_covered():
    assert sorted(EXPECTED) == sorted(p.stem for p in AMI_RECORDINGS.glob("*.txt"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recording_yields_the_outcome_of_every_call(name):
    tracker, outcomes, _ = replay(name)
    assert summary(outcomes) == EXPECTED[name]
    assert tracker.calls == {}, "every call in the recording ended"
    if name in REASONS:
        assert outcomes[0].reason == REASONS[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recording_cut_at_random_bytes_gives_the_same_outcomes(name, seed):
    assert summary(replay(name, random.Random(seed))[1]) == EXPECTED[name]


def test_cyrillic_name_survives_reads_split_inside_characters():
    data = (AMI_RECORDINGS / "ami_p_cyrillic_long_name.txt").read_bytes()
    whole = Framer().feed(data)
    framer, parts = Framer(), []
    for i in range(0, len(data), 7):  # 7-byte reads split most 2- and 3-byte characters
        parts += framer.feed(data[i:i + 7])
    names = {m.get("CallerIDName") for m in parts if m.get("Event") == "NewCallerid"}
    assert any(n and n.startswith("Акционерное общество «Научно-производственное") and n.endswith("дом 28")
               for n in names)
    assert [dict(m) for m in parts] == [dict(m) for m in whole]


def test_cdr_cut_mid_character_by_asterisk_is_decoded_with_replacement():
    msgs = Framer().feed((AMI_RECORDINGS / "ami_p_cyrillic_long_name.txt").read_bytes())
    cut = [m for m in msgs if m.get("Event") == "Cdr" and "\ufffd" in m.get("CallerID", "")]
    assert len(cut) == 2 and all(m["CallerID"].startswith('"Акционерное общество') for m in cut)


def test_device_state_changes_are_reported():
    _, _, states = replay("ami_g_device_state_custom_agent1")
    assert ("Custom:agent1", "INUSE") in states and states[-1] == ("Custom:agent1", "NOT_INUSE")


def test_garbage_between_messages_is_dropped_and_the_stream_goes_on():
    framer = Framer()
    good = b"Event: DeviceStateChange\r\nDevice: PJSIP/101\r\nState: INUSE\r\n\r\n"
    out = framer.feed(b"Asterisk Call Manager/11.0.0\r\n" + b"\x00\xff garbage without colon\r\n\r\n" + good)
    assert [m.get("Device") for m in out if m.get("Event")] == ["PJSIP/101"]
    assert framer.feed(b"x" * 300_000) == [] and framer.dropped >= 1
    assert framer.feed(good)[0]["State"] == "INUSE"


# VoIPGRID's production recordings (chan_sip, 2018-2020): outcomes read off the events
VOIPGRID_EXPECTED = {
    "simple/ab_success_a_hangup.json": [("inbound", "201", "answered")],
    "simple/ab_success_b_hangup.json": [("inbound", "201", "answered")],
    "simple/ab_a_cancel.json": [("inbound", "201", "missed")],
    "simple/ab_reject.json": [("inbound", "201", "missed")],
    "simple/ab_callgroup.json": [("inbound", "201", "answered")],
    "simple/a_created_no_answer.json": [],
    "queue/queue_simple.json": [("inbound", "+31150010001", "answered"), ("outbound", "+31150010004", "answered")],
    "queue/queue_a_cancel.json": [("inbound", "+31150010001", "missed")],
    "originate/ctd-account-world.json": [("outbound", "+31260010001", "answered")],
    "originate/ctd-account-world-deny-a.json": [],
    "originate/ctd-account-world-deny-b.json": [("outbound", "+31260010001", "missed")],
    "originate/ctd-account-account.json": [],
}


@pytest.mark.parametrize("name", sorted(VOIPGRID_EXPECTED))
def test_voipgrid_recording_outcomes(name):
    tracker = CallTracker()
    for i, event in enumerate(json.loads((VOIPGRID / name).read_text())):
        tracker.feed(event, float(i))
    outcomes, _ = tracker.take()
    assert [(o.direction, o.number, "answered" if o.answered else "missed") for o in outcomes] == \
        VOIPGRID_EXPECTED[name]


@pytest.mark.parametrize("path", sorted(str(p.relative_to(VOIPGRID)) for p in VOIPGRID.glob("*/*.json")))
def test_every_voipgrid_recording_is_survived(path):
    tracker = CallTracker()
    for i, event in enumerate(json.loads((VOIPGRID / path).read_text())):
        tracker.feed(event, float(i))
    tracker.take()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_events_without_a_handler_are_skipped_unread_and_outcomes_stay_the_same(name):
    from router.asterisk.amiconnection import EVENTS

    data = (AMI_RECORDINGS / f"{name}.txt").read_bytes()
    times = [r["recv_ts"] for r in map(json.loads, (AMI_RECORDINGS / f"{name}.jsonl").read_text().splitlines())
             if r["dir"] == "recv" and r["kind"] == "message"]
    everything = Framer().feed(data)
    framer, tracker = Framer(EVENTS), CallTracker()
    kept = framer.feed(data)
    assert all(m.get("Event") in EVENTS or "ActionID" in m for m in kept)  # action replies always pass
    assert framer.skipped == len(everything) - len(kept)
    read = iter(kept)
    nxt = next(read, None)
    for m, t in zip(everything, times, strict=True):
        if nxt is not None and dict(m) == dict(nxt):
            tracker.feed(nxt, t)
            nxt = next(read, None)
    assert nxt is None
    assert summary(tracker.take()[0]) == EXPECTED[name]


def test_the_members_a_queue_rings_for_a_routed_caller_are_told_and_each_ring_ends_once():
    tracker, _, _ = replay("ami_e_queue_answered")
    rings = [(r.device, r.member, r.state) for r in tracker.take_rings()]
    assert rings == [("Local/agent3@agents", "Local/agent3@agents", "ringing"),
                     ("Local/agent2@agents", "Local/agent2@agents", "ringing"),
                     ("Local/agent1@agents", "Local/agent1@agents", "ringing"),
                     ("Local/agent2@agents", "Local/agent2@agents", "ended"),
                     ("Local/agent1@agents", "Local/agent1@agents", "answered"),
                     ("Local/agent3@agents", "Local/agent3@agents", "ended")]


def test_a_phone_dialled_for_a_routed_caller_rings_then_is_answered_or_not():
    tracker, [o], _ = replay("ami_c_busy_then_second_target")
    rings = tracker.take_rings()
    assert [r.state for r in rings] == ["ringing", "ended", "ringing", "answered"]
    assert {r.decision for r in rings} == {o.decision} and {r.number for r in rings} == {o.number}
    assert rings[-1].device == o.by
    tracker, [o], _ = replay("ami_b_inbound_missed_caller_hangup")
    assert [r.state for r in tracker.take_rings()] == ["ringing", "ended"], "the caller hung up while it rang"
