"""A stalled follow-up goes up the configured levels, each exactly once, at the configured moments."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from router.core.decide import CompiledRules
from router.core.rulefile import RuleFileError, load_rules_text
from router.followups.escalation import due_levels
from router.service import Router
from tests.helpers import DAY, ESCALATION_POLICY, HOUR, MONDAY_10, RULES_TEXT, Clock, missed

MIN = 60


def rules_for(port: int) -> CompiledRules:
    return CompiledRules(load_rules_text(RULES_TEXT + ESCALATION_POLICY.replace("{port}", str(port))))


@pytest.fixture
async def routers(store, gateway):
    """Two router instances on one Redis, one clock."""
    clock = Clock(MONDAY_10)
    made = [Router(rules_for(gateway.port), store, clock=clock) for _ in range(2)]
    yield clock, made
    for r in made:
        await r.followups.drain()
        await r.followups.outbox.close()


async def tick_all(routers) -> None:
    await asyncio.gather(*(r.tick() for r in routers))
    for r in routers:
        await r.followups.drain()


def test_levels_must_climb():
    with pytest.raises(RuleFileError, match="each level's `after` must be longer"):
        load_rules_text(RULES_TEXT + "followup:\n  escalate: [{after: 3d, to: a}, {after: 1h, to: b}]\n")


def test_a_higher_level_due_takes_the_task_through_the_lower_ones():
    policy = load_rules_text(RULES_TEXT + ESCALATION_POLICY.replace("{port}", "1")).followup.escalate
    task = {"deadline": MONDAY_10, "count": "5", "level": "0"}
    assert [(n, lv.to) for n, lv, _ in due_levels(policy, task, MONDAY_10 + 10 * MIN)] == [
        (1, "head_of_sales"), (2, "director")]
    [(_, _, why1), (_, _, why2)] = due_levels(policy, task, MONDAY_10 + 10 * MIN)
    assert why2 == "5 calls without a reaction (this level: 5)"
    assert why1 == "passing to level 2: 5 calls without a reaction (this level: 5)"
    assert due_levels(policy, {**task, "count": "1", "level": "1"}, MONDAY_10 + 2 * DAY) == []


async def test_a_stalled_follow_up_climbs_each_level_once_with_two_routers(routers, store, gateway):
    clock, (one, two) = routers
    await one.on_outcome(missed("+79161234500", "1"))  # due at 10:30
    [task] = await one.followups.worklist("open")
    timeline = []
    for at in (59 * MIN, 60 * MIN, 61 * MIN, 30 * MIN + 3 * DAY - 1, 30 * MIN + 3 * DAY, 30 * MIN + 4 * DAY):
        clock.t = MONDAY_10 + at
        await tick_all([one, two])
        t = await store.task(task["id"])
        timeline.append((at, t.get("level", "0"), t["owner"]))
    assert timeline == [(59 * MIN, "0", "duty"), (60 * MIN, "1", "head_of_sales"), (61 * MIN, "1", "head_of_sales"),
                        (30 * MIN + 3 * DAY - 1, "1", "head_of_sales"), (30 * MIN + 3 * DAY, "2", "director"),
                        (30 * MIN + 4 * DAY, "2", "director")]
    log = [c["text"] for c in (await store.task(task["id"]))["log"]]
    ups = [x for x in log if x.startswith("escalated")]
    assert ups == ["escalated to level 1: now head_of_sales's (was duty's), overdue by 30m (this level: after 30m)",
                   "escalated to level 2: now director's (was head_of_sales's), overdue by 3d (this level: after 3d)"]
    assert [(c["level"], c["owner"], c["was"]) for c in gateway.crm] == [("1", "head_of_sales", "duty"),
                                                                          ("2", "director", "head_of_sales")]
    director_sms = [s for s in gateway.sms if s["to"] == "+79031112233"]
    assert len(director_sms) == 1 and "is yours now (level 2): overdue by 3d" in director_sms[0]["text"]
    assert one.escalator.escalated + two.escalator.escalated == 2


async def test_the_fifth_missed_call_sends_the_task_up_at_once(routers, store, gateway):
    clock, (one, _) = routers
    for i in range(5):
        clock.advance(2 * MIN)
        await one.on_outcome(missed("+79161234500", str(i)))
    await one.followups.drain()
    [task] = await one.followups.worklist("open")
    assert (task["level"], task["owner"], task["count"]) == ("2", "director", "5")
    assert [c["level"] for c in gateway.crm] == ["1", "2"]


async def test_a_closed_follow_up_never_escalates(routers, store):
    clock, (one, two) = routers
    await one.on_outcome(missed("+79161234500", "1"))
    [task] = await one.followups.worklist("open")
    await one.followups.close(task["id"], "closed by hand")
    clock.advance(5 * DAY)
    await tick_all([one, two])
    assert (await store.task(task["id"])).get("level") is None


@pytest.mark.slow
async def test_head_sees_escalated_follow_ups_per_level_and_can_take_and_comment(serve, store):
    clock = Clock(MONDAY_10)
    r = await serve(rules_for(9), clock)
    await r.router.on_outcome(missed("+79161234500", "1"))
    await r.router.on_outcome(missed("+79161234501", "2"))
    clock.advance(HOUR)
    await r.router.on_outcome(missed("+79161234502", "3"))
    await r.router.tick()
    base = f"http://127.0.0.1:{r.http_port}/api/followups"
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/escalated") as resp:
            page = await resp.json()
        assert page["levels"] == {"1": 2} and page["next"] is None
        assert sorted((t["level"], t["number"]) for t in page["items"]) == [("1", "+79161234500"),
                                                                            ("1", "+79161234501")]
        task_id = page["items"][0]["id"]
        async with s.post(f"{base}/{task_id}/take", json={"by": "petrova"}) as resp:
            assert resp.status == 200
        async with s.post(f"{base}/{task_id}/comment", json={"by": "petrova", "text": "calling now"}) as resp:
            assert resp.status == 200
        async with s.post(f"{base}/{task_id}/take", json={}) as resp:
            assert resp.status == 400
    task = await store.task(task_id)
    assert task["owner"] == "petrova" and task["log"][-1]["text"] == "petrova: calling now"
