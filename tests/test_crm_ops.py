"""The crm: section as `router check` reads it, and what router events become for a CRM (pure)."""

from __future__ import annotations

from router.core.outcome import Outcome
from router.core.ring import Ring
from router.core.tasks import TaskEvent
from router.crm import ops
from router.crm.people import CrmUserRecord, extension, resolve
from tests.helpers import BASE_RULES, MONDAY_10, compiled, missed, problems


def test_a_crm_section_with_an_unknown_default_user_or_a_user_without_an_id_is_refused_with_its_line():
    [no_id] = problems(BASE_RULES + "crm:\n  type: bitrix24\n  users:\n    ivanov: {devices: []}\n")
    assert no_id.startswith("r.yaml:19: crm.users.ivanov: a CRM user needs `id:`"), no_id
    [unknown] = problems(BASE_RULES + "crm:\n  type: bitrix24\n  default_user: nobdy\n")
    assert unknown.startswith("r.yaml:18") and "unknown person 'nobdy'" in unknown and "ivanov" in unknown, unknown
    assert problems(BASE_RULES + "crm: {type: salesforce}\n")[0].startswith("r.yaml:16")


def test_the_deadline_and_the_start_go_in_iso_8601_with_the_company_offset():
    assert ops.iso(MONDAY_10, "Europe/Moscow") == "2026-11-23T10:00:00+03:00"
    assert ops.iso(MONDAY_10, "Asia/Vladivostok") == "2026-11-23T17:00:00+10:00"


def test_a_call_ends_answered_missed_or_busy():
    assert ops.status_code(missed()) == "304"
    busy = Outcome("1.1", "inbound", "+79161234500", "missed", reason="every step failed (last: BUSY)")
    assert ops.status_code(busy) == "486"
    talked = Outcome("1.1", "inbound", "+79161234500", "answered", by="PJSIP/101", talk_seconds=61.7)
    assert ops.status_code(talked) == "200" and ops.call_end(talked)["duration"] == 61


def test_every_operation_of_one_customer_is_one_group_and_a_ring_every_router_sees_is_one_message():
    r = Ring("1.1", "d1", "+79161234500", "PJSIP/101", "", "", "", "ringing", MONDAY_10)
    end = ops.call_end(missed(decision="d1"))
    task = ops.task_op(TaskEvent("opened", {"id": "fu-1", "number": "+79161234500", "owner": "ivanov",
                                            "deadline": str(MONDAY_10 + 1800), "decision": "d1", "name": "Olga"},
                                 "missed call", MONDAY_10), ("Call back {number} {name}", ""))
    assert {ops.group_of(o) for o in (ops.ring(r), end, task)} == {"crm:+79161234500"}
    assert ops.once_of(ops.ring(r)) == (f"crm:ring:1.1:PJSIP/101:ringing:{MONDAY_10:.6f}", ops.RING_ONCE_FOR)
    assert task["title"] == "Call back +79161234500 Olga" and task["first_call"] == "d1" == end["call"]
    assert ops.ring(Ring("1.1", "d1", "+79161234500", "PJSIP/101", "", "", "", "answered", MONDAY_10)) is None
    assert ops.ring(Ring("1.1", "d1", "anonymous", "PJSIP/101", "", "", "", "ringing", MONDAY_10)) is None


def test_a_call_is_for_the_callers_manager_else_the_rules_owner_else_the_default_user():
    rs = compiled(BASE_RULES.replace("  - name: everyone else\n", "  - name: everyone else\n    owner: duty\n")).rs
    with_manager = {"id": "d", "at": MONDAY_10, "rule": "A customers",
                    "caller": {"number": "+7916", "manager": "ivanov"}, "steps": [{"name": "ivanov"}]}
    assert ops.call_start(with_manager, rs)["user"] == "ivanov"
    nobodys = {**with_manager, "rule": "everyone else", "caller": {"number": "+7916"}}
    assert ops.call_start(nobodys, rs)["user"] == "duty"
    assert ops.call_start({**with_manager, "caller": {"number": ""}}, rs) is None, "an anonymous caller"


def test_a_phone_is_whoever_has_its_extension_as_their_internal_number():
    assert [extension(d) for d in ("PJSIP/101", "Local/102@from-queue/n", "hint:103@ext-local", "SIP/104-0000a1",
                                   "PJSIP/trunk")] == ["101", "102", "103", "104", ""]
    rs = compiled(BASE_RULES + "crm:\n  type: bitrix24\n  users: {boss: {id: 9, devices: [PJSIP/900]}}\n").rs
    people = resolve(rs, [CrmUserRecord(5, "101"), CrmUserRecord(9), CrmUserRecord(6, "102")], "Bitrix24")
    assert people.by_name == {"ivanov": 5, "boss": 9}
    assert people.device_user(["Local/102@from-queue-0001;1", "Local/102@from-queue/n"]) == 6
    assert people.device_user(["PJSIP/900"]) == 9 and people.device_user(["PJSIP/555"]) is None
    assert people.user("unassigned") is None and [p.key for p in people.problems] == ["user:unassigned"]
