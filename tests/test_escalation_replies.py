"""Escalation that follows a ticket's life: a level counts the replies on a task (the staff's comments, the
customer's calls and events) and the time since the last staff action (take, comment, callback attempt),
not only the time past the deadline. The outsourced call centre's rule: a ticket nobody reacted to within
three days, or one with more than five replies, goes to the director."""

from __future__ import annotations

import aiohttp
import pytest

from router.core.decide import CompiledRules
from router.core.outcome import Outcome
from router.core.rulefile import RuleFileError, load_rules_text
from router.followups.escalation import due_levels
from tests.helpers import DAY, HOUR, MONDAY_10, RULES_TEXT, Clock, missed

TICKET_POLICY = """
followup:
  deadline: 30m
  owner: duty
  escalate:
    - {after: 2h, to: head_of_sales}
    - {no_reaction: 3d, replies_over: 5, to: director}
"""


def ticket_rules() -> CompiledRules:
    return CompiledRules(load_rules_text(RULES_TEXT + TICKET_POLICY))


def test_a_level_needs_a_condition_and_may_go_without_after():
    with pytest.raises(RuleFileError, match="needs a condition: after, no_reaction, replies_over or or_count"):
        load_rules_text(RULES_TEXT + "followup:\n  escalate: [{to: director}]\n")
    policy = ticket_rules().rs.followup.escalate
    assert (policy[1].after, policy[1].no_reaction, policy[1].replies_over) == (None, 3 * DAY, 5)


def test_no_reaction_counts_from_the_last_staff_action_else_from_the_opening():
    policy = ticket_rules().rs.followup.escalate
    opened = {"created": str(MONDAY_10), "deadline": str(MONDAY_10 + 1800), "level": "1"}
    assert due_levels(policy, opened, MONDAY_10 + 3 * DAY - 1) == []
    [(n, lv, why)] = due_levels(policy, opened, MONDAY_10 + 3 * DAY)
    assert (n, lv.to, why) == (2, "director", "3d since it was opened, with no staff action (this level: no "
                                              "reaction for 3d)")
    acted = {**opened, "last_staff_action": str(MONDAY_10 + 2 * DAY)}
    assert due_levels(policy, acted, MONDAY_10 + 3 * DAY) == []
    [(_, _, why)] = due_levels(policy, acted, MONDAY_10 + 5 * DAY)
    assert why == "3d since the last staff action (this level: no reaction for 3d)"
    [(_, _, why)] = due_levels(policy, {**acted, "replies": "6"}, MONDAY_10 + 2 * DAY + HOUR)
    assert why == "6 replies (this level: more than 5)"
    assert due_levels(policy, {**acted, "replies": "5"}, MONDAY_10 + 2 * DAY + HOUR) == []


def callback_not_answered(number: str, linkedid: str, at: float) -> Outcome:
    return Outcome.timed(linkedid, "outbound", number, False, at, None, at + 20, by="PJSIP/101",
                         reason="not answered")


@pytest.mark.slow
async def test_a_ticket_with_six_replies_reaches_the_director(serve, store):
    """Three comments from the staff (the API the page uses), two events the helpdesk posts for the customer,
    and the customer's second missed call: six replies, the sixth sends the ticket to the director at once."""
    clock = Clock(MONDAY_10)
    r = await serve(ticket_rules(), clock)
    await r.router.on_outcome(missed("+79161234500", "1"))
    [task] = await r.router.followups.worklist("open")
    base = f"http://127.0.0.1:{r.http_port}/api"
    async with aiohttp.ClientSession() as s:
        for i, text in enumerate(["called, no answer", "sent an e-mail", "asked billing"]):
            clock.advance(HOUR)
            async with s.post(f"{base}/followups/{task['id']}/comment", json={"by": "petrova", "text": text}) as resp:
                assert resp.status == 200, i
        events = [{"id": f"hd-{i}", "number": "+79161234500", "kind": "ticket_opened", "at": clock()}
                  for i in range(2)]
        async with s.post(f"{base}/events", json={"events": events}) as resp:
            assert (await resp.json())["new"] == 2
        t = await store.task(task["id"])
        assert (t["replies"], t.get("level", "0")) == ("5", "1")  # 2 h past due: the head of sales has it
        clock.advance(HOUR)
        await r.router.on_outcome(missed("+79161234500", "2"))
    t = await store.task(task["id"])
    assert (t["replies"], t["level"], t["owner"]) == ("6", "2", "director")
    assert t["escalated_why"] == "6 replies (this level: more than 5)"
    assert "customer: ticket_opened, ticket_opened" in [c["text"] for c in t["log"]]


QUIET_POLICY = """
followup:
  deadline: 30m
  owner: duty
  escalate:
    - {no_reaction: 1d, to: head_of_sales}
    - {no_reaction: 3d, replies_over: 5, to: director}
"""


@pytest.mark.slow
async def test_three_days_without_a_staff_action_reach_the_director(serve, store):
    """Taking the ticket and a callback attempt are staff actions: the days count from the last of them."""
    clock = Clock(MONDAY_10)
    r = await serve(CompiledRules(load_rules_text(RULES_TEXT + QUIET_POLICY)), clock)
    await r.router.on_outcome(missed("+79161234500", "1"))
    [task] = await r.router.followups.worklist("open")
    async with aiohttp.ClientSession() as s, \
            s.post(f"http://127.0.0.1:{r.http_port}/api/followups/{task['id']}/take", json={"by": "petrova"}) as resp:
        assert resp.status == 200
    clock.advance(20 * HOUR)
    await r.router.on_outcome(callback_not_answered("+79161234500", "cb1", clock()))
    timeline = []
    for after in (DAY - 1, DAY, 3 * DAY - 1, 3 * DAY):
        clock.t = MONDAY_10 + 20 * HOUR + after
        await r.router.tick()
        t = await store.task(task["id"])
        timeline.append((after, t.get("level", "0"), t["owner"]))
    assert timeline == [(DAY - 1, "0", "petrova"), (DAY, "1", "head_of_sales"), (3 * DAY - 1, "1", "head_of_sales"),
                        (3 * DAY, "2", "director")]
    ups = [c["text"] for c in (await store.task(task["id"]))["log"] if c["text"].startswith("escalated")]
    assert ups == ["escalated to level 1: now head_of_sales's (was petrova's), 1d since the last staff action "
                   "(this level: no reaction for 1d)",
                   "escalated to level 2: now director's (was head_of_sales's), 3d since the last staff action "
                   "(this level: no reaction for 3d)"]
