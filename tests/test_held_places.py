"""A caller who pressed 1 in a queue keeps his place: the router's decision (waited long enough, or a long
estimated wait), the place kept in the store without a missed call or an SMS, and the callback in his turn —
never before a live caller who began waiting earlier, and neither ever starves."""

from __future__ import annotations

from datetime import datetime

import pytest

from router.asterisk.amisim import AMIServer
from router.asterisk.callsim import call
from router.core.heldplaces import HoldQueue, Member, held_turn, hold_decision
from router.core.outcome import Outcome
from router.reports.reader import report
from tests.helpers import MSK, RULES_TEXT, Clock, compiled, dial_target, missed

BEGAN = 1795337767.0
"""When the simulated caller's channel began: callsim's Uniqueid is `1795337767.UID`."""
NUMBER = "+79161234500"
HOLD_RULES = RULES_TEXT + """
callbacks:
  hold:
    support: {after: 2m, estimated_over: 5m}
"""
SUPPORT = HoldQueue(after="2m", estimated_over="5m")


# the decision and the order: pure

def test_pressing_1_keeps_the_place_after_the_rules_wait_or_with_a_long_estimated_wait():
    assert hold_decision("support", 130, 30, SUPPORT).kept
    assert hold_decision("support", 20, 400, SUPPORT).why == ("estimated wait 400 s in support (its recent answered "
                                                              "calls), over 300 s")
    early = hold_decision("support", 20, 30, SUPPORT)
    assert not early.kept and early.why.endswith("back in line at the same place")
    assert not hold_decision("sales", 999, 999, None).kept


def test_a_held_place_waits_for_every_live_caller_who_began_before_it():
    free = [Member("PJSIP/103", True)]
    assert held_turn(100.0, [90.0, 120.0], free) == ""
    assert held_turn(100.0, [110.0, 120.0], free) == "PJSIP/103", "later live callers do not hold it up"
    assert held_turn(100.0, [], [Member("PJSIP/101", False)]) == "", "nobody free, nobody rung"


def serve_in_turn(live: list[float], held: list[float], arrivals: list[float]) -> list[str]:
    """A queue with one member who frees up again and again: each time the router looks first (a held place whose
    turn has come), else app_queue gives the member its oldest live caller. New live callers keep arriving."""
    order: list[str] = []
    live, held = sorted(live), sorted(held)
    while live or held:
        if held and held_turn(held[0], live, [Member("PJSIP/103", True)]):
            order.append(f"held@{held.pop(0):g}")
        else:
            order.append(f"live@{live.pop(0):g}")
        if arrivals:
            live.append(arrivals.pop(0))
    return order


def test_live_callers_and_held_places_are_served_in_the_order_they_began_waiting_and_neither_starves():
    order = serve_in_turn(live=[0, 20], held=[10, 30], arrivals=[40, 50, 60, 70])
    assert order == ["live@0", "held@10", "live@20", "held@30", "live@40", "live@50", "live@60", "live@70"]


# the `hold` AGI script and the place in the store

@pytest.fixture
async def holding(serve, ami: AMIServer):
    clock = Clock(BEGAN + 150)
    running = await serve(compiled(HOLD_RULES), clock, originate=dial_target(ami))
    return running, clock


async def press_1(running, holdtime: int = 30, number: str = NUMBER) -> str:
    result = await call(running.agi.port, number, script="hold", args=("queue=support", f"holdtime={holdtime}"))
    return result.variables["CALLROUTER_HOLD"]


async def test_a_caller_who_waited_long_enough_keeps_his_place_with_one_task_and_no_sms(holding, store):
    running, clock = holding
    assert await press_1(running) == "kept"
    place = await store.held_place(NUMBER)
    assert (place["queue"], float(place["since"])) == ("support", BEGAN)
    task = await store.task(place["task"])
    assert task["log"][0]["text"] == ("callback requested in queue support: place kept (waited 150 s in support, "
                                      "callbacks.hold.support.after is 120 s)")
    await running.router.on_outcome(missed(NUMBER, "1795337767.1", ended_at=clock()))  # he hangs up
    followups = running.router.followups
    assert followups.counters.missed_calls == 0, "a requested callback is not a missed call: no SMS is queued"
    assert [t["id"] for t in await followups.worklist("open")] == [place["task"]]
    assert (await store.task(place["task"]))["count"] == "1"
    assert await store.held_places("support") == [(NUMBER, BEGAN)]
    day = datetime.fromtimestamp(clock(), MSK).date().isoformat()
    built = await report(store, running.router.rules, [day], clock())
    assert built["callbacks"]["requested"] == 1
    assert [(p["who"], p["callbacks_requested"]) for p in built["staff"]] == [("unassigned", 1)]


async def test_a_caller_who_pressed_too_early_goes_back_to_his_place(holding, store):
    running, clock = holding
    clock.t = BEGAN + 20
    assert await press_1(running, holdtime=30) == "back"
    assert not await store.held_place(NUMBER)
    assert await press_1(running, holdtime=400) == "kept", "a long estimated wait keeps it at once"


async def test_a_held_place_is_called_back_in_its_turn_not_before_a_live_caller_who_waited_longer(holding, store,
                                                                                                   ami):
    running, clock = holding
    assert await press_1(running) == "kept"
    task_id = (await store.held_place(NUMBER))["task"]
    ami.members = [{"Queue": "support", "Location": "PJSIP/103", "StateInterface": "PJSIP/103", "Status": "1",
                    "Paused": "0"}]
    ami.entries = [{"Queue": "support", "Position": "1", "CallerIDNum": "+79035550101", "Wait": "200"}]
    assert await running.router.holds.run() == 0, "a live caller began 200 s ago, before the held place"
    ami.entries = [{"Queue": "support", "Position": "1", "CallerIDNum": "+79035550101", "Wait": "100"}]
    assert await running.router.holds.run() == 1
    await running.router.callbacks.wait()
    [originate] = [a for a in ami.actions if a.get("Action") == "Originate"]
    assert originate["Channel"] == "PJSIP/103" and f"CALLROUTER_CALLBACK_NUMBER={NUMBER}" in ami.variables[0]
    await running.router.on_outcome(Outcome("9.9", "outbound", NUMBER, "answered", by="PJSIP/103",
                                            ended_at=clock() + 60))
    assert (await store.task(task_id))["state"] == "closed"
    assert not await store.held_place(NUMBER) and await store.held_places("support") == []


async def test_a_premium_caller_is_never_kept_for_a_callback(holding, store):
    running, _ = holding
    assert await press_1(running, number="+78091234567") == "back"
    assert not await store.held_place("+78091234567")


async def test_a_place_not_called_back_within_keep_is_left_to_the_tasks_owner(holding, store, ami):
    running, clock = holding
    assert await press_1(running) == "kept"
    task_id = (await store.held_place(NUMBER))["task"]
    ami.members = [{"Queue": "support", "Location": "PJSIP/103", "StateInterface": "PJSIP/103", "Status": "2"}]
    clock.advance(4 * 3600 + 1)  # callbacks.hold.support.keep: 4 h by default; the member was never free
    assert await running.router.holds.run() == 0
    assert not await store.held_place(NUMBER) and await store.held_places("support") == []
    task = await store.task(task_id)
    assert task["state"] == "open" and task["log"][-1]["text"].startswith("held place in support not reached within")
