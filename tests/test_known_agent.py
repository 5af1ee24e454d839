"""Known-agent routing: the agent who answered last, the owner of the open task. Real Redis, real FastAGI."""

from __future__ import annotations

import asyncio
import random

import pytest

from router.asterisk.callsim import call
from router.core.rulefile import RuleFileError, load_rules_text
from tests.asterisk import AMI_RECORDINGS
from tests.asterisk.ami_server import AMIServer, recorded_events
from tests.helpers import DAY, MONDAY_10, SIM_SECRET, Clock, ami_target, answered_by, compiled, missed, wait_for

RULES_TEXT = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
identify: {repeat_within: 1h, last_agent_within: 14d}
targets:
  support:    {queue: support, timeout: 120}
  management: {queue: management, timeout: 30}
managers:
  ivanov:  {endpoint: PJSIP/101, up: management, timeout: 20}
  petrova: {endpoint: PJSIP/102, up: management, timeout: 25}
  agent1:  {endpoint: Local/agent1@agents, state: Custom:agent1, up: management, timeout: 15}
rules:
  - name: open task goes to its owner
    when: {has_task_owner: true}
    route: [task_owner, support]
    escalate: up
  - name: recent agent within a week
    when: {last_agent_within: 7d}
    route: [last_agent, manager, support]
    escalate: up
  - name: known agent
    when: {has_last_agent: true}
    route: [last_agent, support]
  - name: everyone else
    route: [manager, support]
fallback: [support]
followup: {owner: petrova}
"""
RULES = compiled(RULES_TEXT)


async def test_repeat_caller_reaches_the_agent_who_answered_them_last(serve, store):
    await store.put_customers([("+79035550103", {"abc": "B", "manager": "ivanov"})])
    clock = Clock(MONDAY_10)
    r = await serve(RULES, clock)
    await store.record_outcome(answered_by("+79035550103", "PJSIP/102", MONDAY_10 - 2 * DAY))
    res = await call(r.agi.port, "+79035550103")
    assert res.chain() == [("dial", "PJSIP/102", "25"), ("dial", "PJSIP/101", "20"), ("queue", "support", "120")]
    await r.router.log.flush()
    [d] = await r.router.log.newest(1)
    assert "last answered by petrova (PJSIP/102)" in d["reasons"]
    assert d["caller"]["last_agent"] == "PJSIP/102"


async def test_queue_member_that_answered_is_found_by_its_interface_from_ami(serve, store):
    ami = AMIServer(secret=SIM_SECRET)
    await ami.start()
    try:
        r = await serve(RULES, Clock(MONDAY_10), ami=ami_target(ami))
        await asyncio.wait_for(r.ami.synced.wait(), 10)
        await ami.push(recorded_events((AMI_RECORDINGS / "ami_e_queue_answered.txt").read_bytes()), random.Random(3))
        await wait_for(lambda: r.ami.received > 100 and not r.ami.tracker.calls)
        await r.ami.flush()
        state = await store.r.hgetall(store.k.state("+79037778899"))
        assert state["agent"] == "Local/agent1@agents"
        r.router.clock = Clock(float(state["agent_at"]) + 3 * DAY)
        res = await call(r.agi.port, "+79037778899")
        assert res.chain()[0] == ("dial", "Local/agent1@agents", "15")
        assert res.variables["ROUTE_RULE"] == "recent agent within a week"
    finally:
        await ami.close()


async def test_queue_member_is_found_by_its_state_interface_when_the_manager_lists_only_that(serve, store):
    rules = compiled(RULES_TEXT.replace("agent1:  {endpoint: Local/agent1@agents, state: Custom:agent1",
                                        "agent1:  {endpoint: PJSIP/201, state: Custom:agent1"))
    ami = AMIServer(secret=SIM_SECRET)
    ami.members = [{"Queue": "new-connection", "Location": "Local/agent1@agents", "StateInterface": "Custom:agent1",
                    "Status": "1"}]
    await ami.start()
    try:
        r = await serve(rules, Clock(MONDAY_10), ami=ami_target(ami))
        await asyncio.wait_for(r.ami.synced.wait(), 10)
        await ami.push(recorded_events((AMI_RECORDINGS / "ami_e_queue_answered.txt").read_bytes()), random.Random(3))
        await wait_for(lambda: r.ami.received > 100 and not r.ami.tracker.calls)
        await r.ami.flush()
        state = await store.r.hgetall(store.k.state("+79037778899"))
        assert (state["agent"], state["agent_state"]) == ("Local/agent1@agents", "Custom:agent1")
        r.router.clock = Clock(float(state["agent_at"]) + DAY)
        assert (await call(r.agi.port, "+79037778899")).chain()[0] == ("dial", "PJSIP/201", "15")
    finally:
        await ami.close()


async def test_agent_older_than_the_window_is_skipped_with_a_reason(serve, store):
    await store.put_customers([("+79035550103", {"abc": "B", "manager": "ivanov"})])
    r = await serve(RULES, Clock(MONDAY_10))
    await store.record_outcome(answered_by("+79035550103", "PJSIP/102", MONDAY_10 - 20 * DAY))
    res = await call(r.agi.port, "+79035550103")
    assert res.variables["ROUTE_RULE"] == "everyone else"
    assert res.chain()[0] == ("dial", "PJSIP/101", "20")


async def test_agent_between_one_and_two_weeks_matches_only_the_wider_condition(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    await store.record_outcome(answered_by("+79035550109", "PJSIP/102", MONDAY_10 - 10 * DAY))
    res = await call(r.agi.port, "+79035550109")
    assert res.variables["ROUTE_RULE"] == "known agent"
    assert res.chain()[0] == ("dial", "PJSIP/102", "25")


async def test_busy_last_agent_escalates_up(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    await store.record_outcome(answered_by("+79035550109", "PJSIP/102", MONDAY_10 - DAY))
    await store.set_device_state("PJSIP/102", "INUSE")
    res = await call(r.agi.port, "+79035550109")
    assert res.chain()[0] == ("queue", "management", "30")


async def test_agent_not_in_the_managers_table_is_dialled_directly(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    await store.record_outcome(answered_by("+79035550109", "PJSIP/177", MONDAY_10 - DAY))
    res = await call(r.agi.port, "+79035550109")
    assert res.chain() == [("dial", "PJSIP/177", "20"), ("queue", "support", "120")]


async def test_caller_with_an_open_follow_up_reaches_its_owner(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    await r.router.followups.on_outcome(missed("+79035550110", ended_at=MONDAY_10 - 600))
    [task] = await r.router.followups.worklist("open")
    assert task["owner"] == "petrova"
    res = await call(r.agi.port, "+79035550110")
    assert res.variables["ROUTE_RULE"] == "open task goes to its owner"
    assert res.chain() == [("dial", "PJSIP/102", "25"), ("queue", "support", "120")]
    await r.router.followups.close(task["id"], "closed by hand")
    res = await call(r.agi.port, "+79035550110", uid=2)
    assert res.variables["ROUTE_RULE"] != "open task goes to its owner"


async def test_task_owner_outside_the_managers_table_is_skipped_with_a_reason(serve, store):
    rules = compiled(RULES_TEXT.replace("followup: {owner: petrova}", "followup: {owner: duty}"))
    r = await serve(rules, Clock(MONDAY_10))
    await r.router.followups.on_outcome(missed("+79035550111", ended_at=MONDAY_10 - 600))
    res = await call(r.agi.port, "+79035550111")
    assert res.chain() == [("queue", "support", "120")]
    await r.router.log.flush()
    [d] = await r.router.log.newest(1)
    assert "task owner 'duty' is not in the managers table → step skipped" in d["reasons"]


async def test_default_rules_send_a_repeat_caller_to_the_last_agent_then_their_manager(serve, store,
                                                                                       default_rules):
    await store.put_customers([("+79035550103", {"abc": "B", "manager": "ivanov"})])
    r = await serve(default_rules, Clock(MONDAY_10))
    await call(r.agi.port, "+79035550103", uid=1)
    await store.record_outcome(answered_by("+79035550103", "PJSIP/102", MONDAY_10 + 200))
    r.router.clock = Clock(MONDAY_10 + 1200)
    res = await call(r.agi.port, "+79035550103", uid=2)
    assert res.variables["ROUTE_RULE"] == "repeat callers reach whoever answered them last"
    assert [dest for _, dest, _ in res.chain()] == ["PJSIP/102", "PJSIP/101", "support"]


@pytest.mark.parametrize("snippet,message", [
    ("fallback: [last_agent]", "fallback cannot use 'last_agent'"),
    ("targets:\n  task_owner: {queue: q}", "'task_owner' is reserved"),
])
def test_person_steps_are_reserved_and_not_for_the_fallback(snippet, message):
    text = "version: 1\nrules: []\n" + (snippet if snippet.startswith("fallback") else
                                         snippet + "\nfallback: [task_owner]")
    with pytest.raises(RuleFileError) as e:
        load_rules_text(text)
    assert any(message in str(p) for p in e.value.problems)


async def test_a_call_the_ivr_served_does_not_make_the_ivr_the_last_agent(store):
    await store.record_outcome(answered_by("+79035550103", "PJSIP/102", MONDAY_10 - DAY))
    served = answered_by("+79035550103", "ivr:self-service", MONDAY_10, linkedid="9.10")
    served.ivr = "self-service"
    await store.record_outcome(served)
    state = await store.r.hgetall(store.k.state("+79035550103"))
    assert state["agent"] == "PJSIP/102"


async def test_a_retention_task_and_a_taken_task_ring_their_current_owner(serve, store):
    r = await serve(RULES, Clock(MONDAY_10))
    number = "+79035550112"
    task = {"id": "rt-1", "number": number, "owner": "ivanov", "state": "open", "created": MONDAY_10,
            "deadline": MONDAY_10 + 3600, "kind": "retention"}
    assert await store.open_retention_task(number, task, {"at": MONDAY_10, "text": "at risk"}) == "rt-1"
    assert (await call(r.agi.port, number)).chain()[0] == ("dial", "PJSIP/101", "20")
    assert await store.take_task("rt-1", "petrova", MONDAY_10 + 60)
    assert (await call(r.agi.port, number, uid=2)).chain()[0] == ("dial", "PJSIP/102", "25")
    await store.close_task("rt-1", MONDAY_10 + 120, "customer kept")
    res = await call(r.agi.port, number, uid=3)
    assert res.variables["ROUTE_RULE"] != "open task goes to its owner"
