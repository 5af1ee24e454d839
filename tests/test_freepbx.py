"""FreePBX destinations as targets: what the walk rings for each kind (FreePBX's own context names), which
device's state says an extension is busy (its hint, kept current from AMI ExtensionStatus), and the queue
priority a Local channel into ext-queues inherits."""

from __future__ import annotations

import pytest

from router.asterisk.calltracker import CallTracker
from router.core.decide import CompiledRules, decide
from router.core.identify import profile
from router.core.phones import normalise
from router.core.rulefile import RuleFileError, load_rules_text
from router.core.snapshot import EMPTY
from router.service import route_variables
from tests.helpers import MONDAY_10

RULES = """
version: 1
company: {timezone: Europe/Moscow}
targets:
  office:   {freepbx: {extension: 101}, timeout: 25, down: support}
  support:  {freepbx: {queue: 400}, priority: 7}
  sales:    {freepbx: {ringgroup: 600}}
  menu:     {freepbx: {ivr: 3}}
  schedule: {freepbx: {timecondition: 2}}
  pinned:   {freepbx: {extension: 102}, state: "PJSIP/102"}
rules:
  - name: office
    when: {dnid: "1"}
    route: [office, support]
    escalate: down
  - name: the rest
    route: [sales, schedule, menu, pinned]
fallback: [support]
"""


def rules() -> CompiledRules:
    return CompiledRules(load_rules_text(RULES))


def test_each_kind_goes_to_freepbxs_own_context():
    r = rules()
    assert [(s.type, s.dest, s.timeout) for s in (r._step(n) for n in r.rs.targets)] == [
        ("dial", "Local/101@from-did-direct", 25), ("dial", "Local/400@ext-queues", 60),
        ("dial", "Local/600@ext-group", 60), ("ivr", "ivr-3", 60), ("dial", "Local/2@timeconditions", 60),
        ("dial", "Local/102@from-did-direct", 60)]
    assert r.rs.targets["office"].freepbx.destination() == "from-did-direct,101,1"
    assert r.rs.targets["menu"].freepbx.destination() == "ivr-3,s,1"
    assert [r.device(n) for n in ("office", "support", "pinned")] == ["hint:101@ext-local", None, "PJSIP/102"]


def test_a_target_names_one_freepbx_destination():
    with pytest.raises(RuleFileError, match="exactly one of extension, queue, ringgroup, ivr, timecondition"):
        load_rules_text(RULES.replace("{freepbx: {extension: 101}, timeout: 25,", "{freepbx: {extension: 101, "
                                                                                 "queue: 4}, timeout: 25,"))
    with pytest.raises(RuleFileError, match="exactly one of queue, dial, ivr, menu, freepbx"):
        load_rules_text(RULES.replace("{freepbx: {ivr: 3}}", "{freepbx: {ivr: 3}, queue: x}"))


def test_a_busy_hint_escalates_and_the_queue_priority_reaches_the_local_channel():
    r = rules()
    caller = profile(normalise("+79161234500", "RU"), "+79161234500", "", "1", EMPTY, r.rs, MONDAY_10)
    idle = decide(r, caller, frozenset(), MONDAY_10)
    assert [s.dest for s in idle.steps] == ["Local/101@from-did-direct", "Local/400@ext-queues"]
    busy = decide(r, caller, frozenset({"hint:101@ext-local"}), MONDAY_10)
    assert [s.dest for s in busy.steps] == ["Local/400@ext-queues"] and busy.priority == 7
    assert "office busy → escalated down to support" in busy.reasons
    pairs = dict(route_variables(busy, "Europe/Moscow"))
    assert pairs["_QUEUE_PRIO"] == 7 and "QUEUE_PRIO" not in pairs


def test_extension_status_events_keep_the_hints_state():
    t = CallTracker()
    for status, text in (("2", "Busy"), ("9", "InUse&Ringing"), ("0", "Idle"), ("-2", "Removed")):
        t.feed({"Event": "ExtensionStatus", "Exten": "101", "Context": "ext-local", "Hint": "PJSIP/101&Custom:DND101",
                "Status": status, "StatusText": text}, 0.0)
    assert t.take()[1] == [("hint:101@ext-local", "BUSY"), ("hint:101@ext-local", "RINGINUSE"),
                           ("hint:101@ext-local", "NOT_INUSE"), ("hint:101@ext-local", "INVALID")]
