"""Call outcomes from AMI event sequences shaped like Asterisk 22's (played by the simulated PBX)."""

from __future__ import annotations

from router.asterisk.calltracker import CallTracker
from router.asterisk.pbxsim import Attempt, SimulatedPBX
from tests.helpers import outcomes


def test_a_call_the_self_service_ivr_answers_is_served_not_missed():
    [o] = outcomes(lambda pbx: pbx.inbound("+79035550104", "d-1", [Attempt("ivr", "self-service", "answer", 2, 50)]))
    assert (o["result"], o["by"], o["ivr"], o["decision"]) == ("answered", "ivr:self-service", "self-service", "d-1")


def test_a_caller_who_leaves_the_ivr_for_a_queue_and_gives_up_is_missed():
    async def play(pbx: SimulatedPBX) -> None:
        caller = {"Channel": "PJSIP/trunk-00000001", "CallerIDNum": "+79035550104", "Uniqueid": "1.1",
                  "Linkedid": "1.1"}
        await pbx._send({"Event": "Newchannel", **caller},
                        {"Event": "UserEvent", **caller, "UserEvent": "callrouter", "Decision": "d-2"},
                        {"Event": "Newstate", **caller, "ChannelStateDesc": "Up", "Context": "self-service"})
        await pbx._queue(caller, Attempt("queue", "support", "hangup", 30, member="PJSIP/301"))
        await pbx._send({"Event": "Hangup", **caller})

    [o] = outcomes(play)
    assert o["result"] == "missed" and "ivr" not in o


def test_queue_timeout_walks_on_and_the_next_step_answers():
    [o] = outcomes(lambda pbx: pbx.inbound("+79035550101", "d-3", [
        Attempt("queue", "new-connection", "timeout", 60, member="PJSIP/201"),
        Attempt("queue", "operators", "answer", 10, 90, member="PJSIP/401")]))
    assert (o["result"], o["by"], o["queue"]) == ("answered", "PJSIP/401", "operators")


def test_busy_manager_then_answered_dial():
    [o] = outcomes(lambda pbx: pbx.inbound("+79035550101", "d-4", [Attempt("dial", "PJSIP/101", "busy"),
                                                                    Attempt("dial", "PJSIP/110", "answer", 5, 60)]))
    assert (o["result"], o["by"]) == ("answered", "PJSIP/110")


def test_click_to_call_counts_only_the_customer_answering():
    reached = outcomes(lambda pbx: pbx.callback("PJSIP/201", "+79161234500", answered=True, ring=8, talk=60))
    unreached = outcomes(lambda pbx: pbx.callback("PJSIP/201", "+79161234500", answered=False, ring=30))
    assert [(o["direction"], o["result"], o["by"]) for o in reached] == [("outbound", "answered", "PJSIP/201")]
    assert [(o["direction"], o["result"]) for o in unreached] == [("outbound", "missed")]


def test_every_step_failing_is_a_missed_call_saying_how_the_last_one_ended():
    [o] = outcomes(lambda pbx: pbx.inbound("+79035550101", "d-5", [Attempt("dial", "PJSIP/101", "busy"),
                                                                    Attempt("queue", "support", "timeout", 120)]))
    assert (o["result"], o["decision"]) == ("missed", "d-5") and "queue TIMEOUT" in o["reason"]


def _ivr_call(named_by: dict) -> dict:
    caller = {"Channel": "Local/2001@trunk-00000001;2", "CallerIDNum": "+79035550104", "Uniqueid": "1.2",
              "Linkedid": "1.1"}
    tracker = CallTracker()
    events = [{"Event": "Newchannel", **caller, "Uniqueid": "1.1", "Channel": "Local/2001@trunk-00000001;1"},
              {"Event": "Newchannel", **caller}, {**named_by, **caller},
              {"Event": "Newstate", **caller, "ChannelStateDesc": "Up", "Context": "self-service"},
              {"Event": "Hangup", **caller}, {"Event": "Hangup", **caller, "Uniqueid": "1.1"}]
    for i, e in enumerate(events):
        tracker.feed(e, float(i))
    [o] = tracker.take()[0]
    return o.record()


def test_asterisks_report_of_the_routers_answer_names_the_caller_and_the_decision():
    answer = ('EXEC MSet "ROUTE_DECISION=19ab3c2d1e0f00001a2b,ROUTE_RULE=everyone,ROUTE_1_TYPE=ivr,'
              'CDR(userfield)=19ab3c2d1e0f00001a2b"')
    o = _ivr_call({"Event": "AGIExecEnd", "Command": answer, "ResultCode": "200"})
    assert (o["result"], o["by"], o["decision"]) == ("answered", "ivr:self-service", "19ab3c2d1e0f00001a2b")


def test_other_agi_commands_on_the_channel_name_no_caller():
    tracker = CallTracker()
    caller = {"Channel": "PJSIP/trunk-00000001", "CallerIDNum": "+79035550104", "Uniqueid": "1.1", "Linkedid": "1.1"}
    for i, e in enumerate([{"Event": "Newchannel", **caller},
                           {"Event": "AGIExecEnd", **caller, "Command": 'SET VARIABLE ROUTE_DECISION "x"'},
                           {"Event": "AGIExecEnd", **caller, "Command": 'EXEC MSet "OTHER=1,ROUTE_DECISION=x"'},
                           {"Event": "Newstate", **caller, "ChannelStateDesc": "Up", "Context": "ivr"},
                           {"Event": "Hangup", **caller}]):
        tracker.feed(e, float(i))
    assert tracker.take()[0] == [], "not routed, no queue, no dial: not a call the router follows"


def test_the_user_event_of_earlier_dialplans_still_names_the_decision():
    o = _ivr_call({"Event": "UserEvent", "UserEvent": "callrouter", "Decision": "d-7"})
    assert (o["result"], o["decision"]) == ("answered", "d-7")


def test_a_caller_who_pressed_1_and_keeps_his_place_ended_as_a_requested_callback():
    async def play(pbx: SimulatedPBX) -> None:
        caller = {"Channel": "PJSIP/trunk-00000001", "CallerIDNum": "+79035550104", "Uniqueid": "1.1",
                  "Linkedid": "1.1"}
        await pbx._send({"Event": "Newchannel", **caller},
                        {"Event": "UserEvent", **caller, "UserEvent": "callrouter", "Decision": "d-9"},
                        {"Event": "QueueCallerJoin", **caller, "Queue": "support"},
                        {"Event": "UserEvent", **caller, "UserEvent": "callrouter", "Decision": "d-9",
                         "Result": "kept", "Queue": "support"},
                        {"Event": "Hangup", **caller})

    [o] = outcomes(play)
    assert (o["result"], o["reason"]) == ("missed", "callback requested in queue support: place kept")
