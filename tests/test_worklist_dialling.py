"""The worklist that dials itself: a free agent is rung for his next task in the strategy's order, only within the
customer's own calling hours (read in the customer's zone) and the company's working hours, attempts bounded and
spaced; two routers never dial one customer twice. Time is an injected clock; Asterisk is the AMI simulator."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from router.asterisk.amisim import AMIServer
from router.asterisk.calltracker import CallTracker
from router.asterisk.originate import Originator
from router.core.calendar import CompanyCalendar
from router.core.callbacks import CallbackSettings, Candidate, covered_owners, next_candidate
from router.core.decide import CompiledRules
from router.core.hours import HourWindow
from router.core.rulefile import load_rules_text
from router.service import Router
from tests.helpers import MSK, RULES_TEXT, Clock, add_user, dial_target, missed

VLADIVOSTOK_LANDLINE = "+74232123456"
MOSCOW_LANDLINE = "+74951234567"
PROGRESSIVE = RULES_TEXT + """
callbacks:
  attempts: 2
  spacing: 15m
  worklist:
    - {owner: ivanov, mode: progressive}
    - {owner: petrova, mode: progressive}
"""
MONDAY_15 = datetime(2026, 11, 23, 15, 0, tzinfo=MSK).timestamp()
"""15:00 in Moscow is 22:00 in Vladivostok: the company works, a Vladivostok customer's day is over."""


def candidate(task_id: str, zone: str, owner: str = "ivanov", attempts: int = 0, last: float | None = None):
    return Candidate(task_id, "+7", owner, attempts, last, ZoneInfo(zone))


DEFAULTS = CallbackSettings()


def pick(candidates, now, settings=DEFAULTS, owners=frozenset({"ivanov"})):
    return next_candidate(candidates, set(owners), now, settings, MSK, CompanyCalendar(None),
                          HourWindow(9 * 60, 18 * 60))


# which task: pure, with the clock passed in

def test_a_vladivostok_customer_is_not_called_after_his_nine_pm_because_moscow_is_at_work():
    found, passed = pick([candidate("vl", "Asia/Vladivostok"), candidate("msk", "Europe/Moscow")], MONDAY_15)
    assert found is not None and found.task_id == "msk"
    assert passed == ["vl: 22:00 in the customer's zone Asia/Vladivostok, outside 09:00-21:00"]


def test_the_same_customer_is_called_in_his_morning_while_moscow_is_at_work():
    monday_9 = datetime(2026, 11, 23, 9, 0, tzinfo=MSK).timestamp()  # 16:00 in Vladivostok
    found, _ = pick([candidate("vl", "Asia/Vladivostok"), candidate("msk", "Europe/Moscow")], monday_9)
    assert found is not None and found.task_id == "vl", "the worklist's order holds inside the window"


def test_nobody_is_called_outside_the_companys_hours_or_on_its_days_off():
    evening = datetime(2026, 11, 23, 19, 0, tzinfo=MSK).timestamp()
    found, passed = pick([candidate("msk", "Europe/Moscow")], evening)
    assert found is None and passed == ["msk: 19:00 company time, outside working hours 09:00-18:00"]
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=MSK).timestamp()
    found, passed = pick([candidate("msk", "Europe/Moscow")], saturday)
    assert found is None and passed == ["msk: sat 2026-11-28 is a weekend day"]


def test_attempts_are_spaced_and_bounded():
    settings = CallbackSettings(attempts=2, spacing="15m")
    ten_ago = MONDAY_15 - 600
    found, passed = pick([candidate("a", "Europe/Moscow", attempts=1, last=ten_ago)], MONDAY_15, settings)
    assert found is None and passed == ["a: last attempt 600 s ago (callbacks.spacing)"]
    found, _ = pick([candidate("a", "Europe/Moscow", attempts=1, last=ten_ago)], MONDAY_15 + 300, settings)
    assert found is not None
    found, passed = pick([candidate("a", "Europe/Moscow", attempts=2, last=ten_ago)], MONDAY_15 + 3600, settings)
    assert found is None and passed == ["a: 2 attempts made (callbacks.attempts)"]


def test_a_queue_entry_covers_the_owner_its_targets_name_for_whoever_holds_it():
    settings = CallbackSettings(worklist=[{"queue": "support", "mode": "preview"}])
    owners, mode = covered_owners(settings, {"support": {"duty"}}, frozenset({"sidorov", "duty"}))
    assert (owners, mode) == ({"duty"}, "preview")
    assert covered_owners(settings, {"support": {"duty"}}, frozenset({"ivanov"})) == (set(), None)


# the progressive round against the store and the AMI simulator

def rules() -> CompiledRules:
    return CompiledRules(load_rules_text(PROGRESSIVE))


async def router_on(store, r: CompiledRules, clock: Clock, ami: AMIServer) -> tuple[Router, Originator]:
    router = Router(r, store, clock=clock)
    originator = Originator(dial_target(ami))
    originator.start()
    router.callbacks.originate = originator.originate
    return router, originator


@pytest.fixture
async def free_agents(store):
    await add_user(store, "ivanov", "agent")
    await add_user(store, "petrova", "agent")
    await store.set_device_state("PJSIP/101", "NOT_INUSE")
    await store.set_device_state("PJSIP/102", "NOT_INUSE")


async def open_tasks(router: Router, clock: Clock, numbers_owners: list[tuple[str, str, dict]]) -> dict[str, str]:
    ids = {}
    for number, owner, fields in numbers_owners:
        await router.store.put_customers([(number, {"manager": owner, **fields})])
        ids[number] = await router.followups.missed(missed(number, number), clock())
        clock.advance(1)
    return ids


async def test_a_free_agent_is_rung_for_his_next_task_in_worklist_order(store, ami, free_agents):
    clock = Clock(MONDAY_15)
    router, originator = await router_on(store, rules(), clock, ami)
    ids = await open_tasks(router, clock, [("+79161234501", "ivanov", {"abc": "C"}),
                                           (VLADIVOSTOK_LANDLINE, "ivanov", {"abc": "A"}),
                                           (MOSCOW_LANDLINE, "ivanov", {"abc": "B"})])
    await store.set_device_state("PJSIP/102", "INUSE")  # petrova is on the phone: not rung
    assert await router.dialler.run() == 1
    await router.callbacks.wait()
    [sent] = [a for a in ami.actions if a.get("Action") == "Originate"]
    # A first under the expansion strategy (no new callers here), but it is 22:00 in Vladivostok: B is next
    assert sent["Channel"] == "PJSIP/101" and f"CALLROUTER_CALLBACK_NUMBER={MOSCOW_LANDLINE}" in ami.variables[0]
    assert (await store.task(ids[MOSCOW_LANDLINE]))["callback_attempts"] == "1"
    originator.close()
    await router.followups.outbox.close()


async def test_a_paused_agent_is_not_rung(store, ami, free_agents):
    clock = Clock(MONDAY_15)
    router, originator = await router_on(store, rules(), clock, ami)
    await open_tasks(router, clock, [(MOSCOW_LANDLINE, "ivanov", {})])
    await store.set_paused("PJSIP/101", "support", True)
    assert await router.dialler.run() == 0
    await store.set_paused("PJSIP/101", "support", False)
    assert await router.dialler.run() == 1
    originator.close()
    await router.followups.outbox.close()


async def test_two_routers_never_dial_one_customer_twice(store, ami, free_agents):
    clock = Clock(MONDAY_15)
    r = rules()
    one, o1 = await router_on(store, r, clock, ami)
    two, o2 = await router_on(store, r, clock, ami)
    await open_tasks(one, clock, [(MOSCOW_LANDLINE, "duty", {})])
    # both agents hold the same owner: both are free, both routers look at once
    await add_user(store, "ivanov", "agent", holds=("duty",))
    await add_user(store, "petrova", "agent", holds=("duty",))
    one.rules = two.rules = CompiledRules(load_rules_text(PROGRESSIVE.replace("owner: ivanov", "owner: duty")))
    ami.originate_hold = asyncio.Event()  # the agents' phones still ring while both routers look
    started = await asyncio.gather(one.dialler.run(), two.dialler.run())
    ami.originate_hold.set()
    await one.callbacks.wait()
    await two.callbacks.wait()
    dialled = [v[0] for v in ami.variables]
    assert sum(started) == 1 and dialled == [f"CALLROUTER_CALLBACK_NUMBER={MOSCOW_LANDLINE}"]
    for o in (o1, o2):
        o.close()
    for router in (one, two):
        await router.followups.outbox.close()


async def test_a_task_closed_meanwhile_is_never_dialled(store, ami, free_agents):
    clock = Clock(MONDAY_15)
    router, originator = await router_on(store, rules(), clock, ami)
    ids = await open_tasks(router, clock, [(MOSCOW_LANDLINE, "ivanov", {})])
    tasks = await router.followups.worklist("open")
    await router.followups.close(ids[MOSCOW_LANDLINE], "the customer called again and was answered")
    result = await router.callbacks.call(tasks[0]["id"], "PJSIP/101", "worklist")
    assert result.status == "closed"
    assert not [a for a in ami.actions if a.get("Action") == "Originate"]
    originator.close()
    await router.followups.outbox.close()


def test_a_queue_members_pause_is_read_from_ami_by_its_state_interface():
    tracker = CallTracker()
    tracker.feed({"Event": "QueueMemberPause", "Queue": "support", "MemberName": "ivanov",
                  "Interface": "Local/101@agents", "StateInterface": "PJSIP/101", "Paused": "1"},
                 MONDAY_15)
    tracker.feed({"Event": "QueueMemberPause", "Queue": "sales", "Interface": "PJSIP/102", "Paused": "0"}, MONDAY_15)
    assert tracker.take_pauses() == [("PJSIP/101", "support", True), ("PJSIP/102", "sales", False)]
