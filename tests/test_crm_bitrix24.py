"""Calls and tasks in Bitrix24, against a local server answering Bitrix24's documented shapes (tests/fake_crm.py),
real Redis, real FastAGI calls and an injected clock: the exact requests, their order, once each — also with
the portal down in between and with two routers sharing the store."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from router.asterisk.agi import AGISession, FastAGIServer
from router.asterisk.callsim import call
from router.core.decide import CompiledRules
from router.core.ring import Ring
from router.crm.bitrix24 import WEBHOOK_ENV
from router.crm.rate import SharedRate
from router.crm.sync import CrmSync, attach
from router.outbox.outbox import MAX_RETRY
from router.service import Router
from router.state.factory import open_store
from router.web.keys import CRM_KEY
from tests.fake_crm import FakeBitrix24
from tests.helpers import MANAGER_FIRST, MONDAY_10, Clock, answered, compiled, http_get, missed

OLGA = "+79161234500"
RULES_TEXT = MANAGER_FIRST + """
followup:
  deadline: 30m
  owner: duty
  escalate:
    - {after: 30m, to: head_of_sales}
crm:
  type: bitrix24
  rate: 50
  default_user: duty
  users:
    duty: {inner_phone: "100"}
    head_of_sales: {id: 7}
"""
RULES = compiled(RULES_TEXT)
IVANOV, DUTY, HEAD = 5, 3, 7
OLGA_CONTACT = 12


@pytest.fixture
async def bitrix(monkeypatch):
    b = FakeBitrix24()
    b.user(IVANOV, "101", "Ivan Ivanov")
    b.user(DUTY, "100", "Duty Desk")
    b.user(HEAD, "", "Head of Sales")
    b.contacts[OLGA] = OLGA_CONTACT
    await b.up()
    monkeypatch.setenv(WEBHOOK_ENV, b.webhook)
    yield b
    await b.down()


class Site:
    """A router with its FastAGI port and its CRM sync, on a store of its own connection."""

    def __init__(self, router: Router, agi: FastAGIServer, crm: CrmSync):
        self.router, self.agi, self.crm = router, agi, crm

    async def call(self, uid: int, number: str = OLGA) -> str:
        """A call through FastAGI; the decision id the dialplan got."""
        return (await call(self.agi.port, number, uid=uid)).variables["ROUTE_DECISION"]


@pytest.fixture
async def sites(redis_url, prefix, store):
    """`await sites(n, rules, clock)`: n routers sharing one Redis store (each with its own connection)."""
    made: list[Site] = []

    async def _sites(n: int, clock: Clock, rules: CompiledRules = RULES, sleep=None) -> list[Site]:
        await store.put_customers([(OLGA, {"name": "Olga", "abc": "A", "manager": "ivanov"})])
        for _ in range(n):
            router = Router(rules, open_store(redis_url, prefix), clock=clock, budget=2.0)
            crm = attach(router, sleep) if sleep else attach(router)
            agi = FastAGIServer({"route": router.answer}, "127.0.0.1", 0)
            await agi.start()
            made.append(Site(router, agi, crm))
        return made[-n:]

    yield _sites
    for s in made:
        await s.agi.close()
        await s.router.followups.outbox.close()
        await s.router.store.close()


async def drain(*sites: Site) -> None:
    """Write what each router posted, then send what is due until nothing is, all routers side by side."""
    for s in sites:
        await s.router.followups.outbox.write()
    while sum(await asyncio.gather(*(s.router.followups.outbox.deliver_due() for s in sites))):
        pass


def sent(bitrix: FakeBitrix24) -> list[tuple[str, dict]]:
    """The requests that took effect, with the parameters that matter to the scenario."""
    keep = {"telephony.externalcall.register": ("USER_ID", "PHONE_NUMBER", "TYPE", "CALL_START_DATE"),
            "telephony.externalcall.finish": ("USER_ID", "STATUS_CODE", "DURATION"),
            "tasks.task.add": ("fields",), "task.commentitem.add": ("FIELDS",),
            "tasks.task.update": ("fields",), "tasks.task.complete": ()}
    return [(m, {k: body.get(k) for k in keep[m]}) for m, body in bitrix.log if m in keep]


SCENARIO = [
    ("telephony.externalcall.register", {"USER_ID": IVANOV, "PHONE_NUMBER": OLGA, "TYPE": 2,
                                         "CALL_START_DATE": "2026-11-23T10:00:00+03:00"}),
    ("telephony.externalcall.finish", {"USER_ID": IVANOV, "STATUS_CODE": "304", "DURATION": 0}),
    ("tasks.task.add", {"fields": {"TITLE": "Call back +79161234500 Olga",
                                   "DESCRIPTION": "missed call (caller hung up before anyone answered), rang 20.0 s",
                                   "RESPONSIBLE_ID": IVANOV, "DEADLINE": "2026-11-23T10:30:00+03:00",
                                   "TAGS": ["<task>"], "UF_CRM_TASK": [f"C_{OLGA_CONTACT}"]}}),
    ("telephony.externalcall.register", {"USER_ID": IVANOV, "PHONE_NUMBER": OLGA, "TYPE": 2,
                                         "CALL_START_DATE": "2026-11-23T10:05:00+03:00"}),
    ("telephony.externalcall.finish", {"USER_ID": IVANOV, "STATUS_CODE": "304", "DURATION": 0}),
    ("task.commentitem.add", {"FIELDS": {"POST_MESSAGE": "missed call (caller hung up before anyone answered), "
                                                         "rang 20.0 s"}}),
    ("tasks.task.update", {"fields": {"RESPONSIBLE_ID": HEAD}}),
    ("telephony.externalcall.register", {"USER_ID": IVANOV, "PHONE_NUMBER": OLGA, "TYPE": 1,
                                         "CALL_START_DATE": "2026-11-23T10:58:58+03:00"}),
    ("telephony.externalcall.finish", {"USER_ID": IVANOV, "STATUS_CODE": "200", "DURATION": 60}),
    ("tasks.task.complete", {}),
]
"""A missed call (register, finish 304, task add for her manager bound to her contact), a second missed call
(register, finish, comment), the task overdue by 30 min (re-assigned to head_of_sales), her manager's callback
answered (registered as outgoing, finished 200, the task completed)."""


@pytest.mark.parametrize("routers,outage", [(1, False), (1, True), (2, True)],
                         ids=["one router", "Bitrix24 down in between", "two routers, Bitrix24 down in between"])
async def test_missed_missed_escalated_called_back_make_each_documented_request_once_in_order(
        sites, bitrix, routers, outage):
    clock = Clock(MONDAY_10)
    every = await sites(routers, clock)
    a, b = every[0], every[-1]
    first = await a.call(1)
    await a.router.on_outcome(missed(OLGA, "1.1", first))
    await drain(*every)
    assert len(bitrix.log) == 3, bitrix.methods()
    if outage:
        await bitrix.down()
    clock.advance(300)
    second = await b.call(2)
    await b.router.on_outcome(missed(OLGA, "1.2", second, ended_at=clock()))
    await drain(*every)
    clock.t = MONDAY_10 + 3601  # the task (due 10:30) is overdue by 30 min: every router checks, one moves it
    await asyncio.gather(*(s.router.tick() for s in every))
    await drain(*every)
    callback = answered(OLGA, "outbound", by="PJSIP/101")
    callback.ended_at = clock()
    await b.router.on_outcome(callback)
    await drain(*every)
    if outage:
        for _ in range(12):  # an hour and more: the first message of the group is tried again and again
            clock.advance(MAX_RETRY)
            await drain(*every)
        assert len(bitrix.log) == 3, "nothing reached the portal while it was down"
        await bitrix.up()
        clock.advance(MAX_RETRY)
        await drain(*every)
    [task] = bitrix.tasks.values()
    expected = [(m, {**p, "fields": {**p["fields"], "TAGS": task["tags"]}}) if m == "tasks.task.add" else (m, p)
                for m, p in SCENARIO]
    assert sent(bitrix) == expected
    assert task["tags"][0].startswith("fu-") and task["status"] == "5" and task["responsibleId"] == str(HEAD)
    registers = bitrix.requests("telephony.externalcall.register")
    assert [r["EXTERNAL_CALL_ID"] for r in registers[:2]] == [first, second], "each call registered by its decision"
    finishes = bitrix.requests("telephony.externalcall.finish")
    assert [f["CALL_ID"] for f in finishes] == [c for c in bitrix.calls], "each call finished under its own CALL_ID"
    comment = bitrix.requests("task.commentitem.add")[0]
    assert comment["TASKID"] == int(task["id"])
    assert bitrix.requests("tasks.task.update")[0]["taskId"] == int(task["id"])
    assert bitrix.requests("tasks.task.complete") == [{"taskId": int(task["id"])}]
    stored = await a.router.store.crm_task(task["tags"][0])
    assert stored == {"id": task["id"], "entity": f"CONTACT:{OLGA_CONTACT}"}, "the CRM's id beside the router's"


async def test_the_call_is_registered_after_its_answer_reached_asterisk_and_never_holds_it_up(
        sites, bitrix, monkeypatch):
    order: list[str] = []
    real_end_with = AGISession.end_with

    def answer(session, line):
        order.append("answer")
        real_end_with(session, line)

    monkeypatch.setattr(AGISession, "end_with", answer)
    real_register = bitrix.m_telephony_externalcall_register
    bitrix.m_telephony_externalcall_register = lambda body: order.append("register") or real_register(body)
    [site] = await sites(1, Clock(MONDAY_10))
    await bitrix.down()
    decision = await site.call(1)  # the portal is down: the caller is routed all the same
    await drain(site)
    assert order == ["answer"] and bitrix.log == []
    await bitrix.up()
    site.router.followups.outbox.clock.t += MAX_RETRY  # type: ignore[attr-defined]
    await drain(site)
    assert order == ["answer", "register"]
    assert bitrix.requests("telephony.externalcall.register")[0]["EXTERNAL_CALL_ID"] == decision


async def test_a_ringing_queue_shows_the_card_to_whose_phone_rings_and_hides_it_once_with_two_routers(
        sites, bitrix):
    clock = Clock(MONDAY_10)
    a, b = await sites(2, clock)
    decision = await a.call(1)
    await drain(a, b)
    ring = Ring("1.1", decision, OLGA, "Local/101@from-queue-0001;1", "Local/101@from-queue/n", "PJSIP/101",
                "support", "ringing", MONDAY_10 + 1)
    stranger = Ring("1.1", decision, OLGA, "PJSIP/555", "", "", "support", "ringing", MONDAY_10 + 1)
    for s in (a, b):  # every router's AMI listener sees every ring
        s.router.on_ring(ring)
        s.router.on_ring(stranger)
    await drain(a, b)
    for s in (a, b):
        s.router.on_ring(Ring(*[ring.linkedid, decision, OLGA, ring.device, ring.member, ring.state_interface,
                                "support", "ended", MONDAY_10 + 9]))
    await drain(a, b)
    cards = [(m, body["USER_ID"]) for m, body in bitrix.log if m.startswith("telephony.externalcall.s") or
             m.endswith("hide")]
    assert cards == [("telephony.externalcall.show", IVANOV), ("telephony.externalcall.hide", IVANOV)]
    assert bitrix.requests("telephony.externalcall.show")[0]["CALL_ID"] == next(iter(bitrix.calls))


async def test_a_task_add_whose_answer_was_lost_is_found_by_its_tag_not_added_twice(sites, bitrix):
    [site] = await sites(1, Clock(MONDAY_10))
    decision = await site.call(1)
    bitrix.lose_answer.add("tasks.task.add")
    await site.router.on_outcome(missed(OLGA, "1.1", decision))
    await drain(site)
    assert len(bitrix.tasks) == 1 and "tasks.task.list" not in bitrix.methods()
    bitrix.lose_answer.add("task.commentitem.add")
    await site.router.on_outcome(missed(OLGA, "1.2", ""))
    site.router.clock.advance(MAX_RETRY)  # type: ignore[attr-defined]
    await drain(site)
    site.router.clock.advance(MAX_RETRY)  # type: ignore[attr-defined]
    await drain(site)
    assert len(bitrix.tasks) == 1, "the retried add looked for its tag first"
    assert [m for m in bitrix.methods() if m.startswith("task")] == [
        "tasks.task.add", "tasks.task.list", "task.commentitem.add", "task.commentitem.getlist"]
    [task_id] = bitrix.tasks
    assert len(bitrix.comments[task_id]) == 1, "the retried comment found itself and was not added again"


async def test_a_wrong_webhook_key_blocks_the_channel_with_what_to_do_until_it_is_fixed(
        sites, bitrix, monkeypatch):
    monkeypatch.setenv(WEBHOOK_ENV, bitrix.webhook.replace("s3cr3tk3y", "wrongkey"))
    clock = Clock(MONDAY_10)
    [site] = await sites(1, clock)
    await site.call(1)
    await drain(site)
    status = await site.crm.status()
    [problem] = [p for p in status["problems"] if p["about"] == "channel"]
    assert "INVALID_CREDENTIALS" in problem["what"] and WEBHOOK_ENV in problem["advice"]
    assert bitrix.log == [] and bitrix.refused[0][1] == 401
    monkeypatch.setenv(WEBHOOK_ENV, bitrix.webhook)
    clock.advance(MAX_RETRY)
    await drain(site)
    assert bitrix.methods() == ["telephony.externalcall.register"]
    assert (await site.crm.status())["problems"] == []


async def test_a_deleted_user_blocks_their_task_and_says_whom_to_map(sites, bitrix):
    clock = Clock(MONDAY_10)
    [site] = await sites(1, clock)
    decision = await site.call(1)
    await drain(site)
    bitrix.users[IVANOV]["ACTIVE"] = False  # dismissed after the router read the users
    await site.router.on_outcome(missed(OLGA, "1.1", decision))
    await drain(site)
    assert bitrix.refused[-1][:2] == ("telephony.externalcall.finish", 400) and "tasks.task.add" not in bitrix.methods()
    problems = {p["about"]: p for p in (await site.crm.status())["problems"]}
    assert "User is not found or is not active" in problems["user:ivanov"]["what"]
    assert problems["user:ivanov"]["advice"].startswith("Bitrix24 user 5 (ivanov) is deleted or inactive: map ivanov")
    bitrix.users[IVANOV]["ACTIVE"] = True  # taken back in Bitrix24: the task goes through, in order
    clock.advance(MAX_RETRY)
    await drain(site)
    assert bitrix.methods()[-2:] == ["telephony.externalcall.finish", "tasks.task.add"]
    assert (await site.crm.status())["problems"] == []


async def test_two_routers_together_keep_to_the_portal_rate(store):
    """Each request takes a place in a second counted in Redis by every router: never more than `rate` a second."""
    clock = Clock(MONDAY_10)

    async def sleep(seconds: float) -> None:  # the clock moves as the request waits for its place
        clock.advance(seconds)

    one, two = (SharedRate(store, "crm", lambda: 2, clock, sleep) for _ in range(2))
    sent_at = []
    for n in range(9):
        await (one if n % 2 else two).wait()
        sent_at.append(clock())
    per_second = Counter(int(t) for t in sent_at)
    assert sorted(per_second.values(), reverse=True) == [2, 2, 2, 2, 1]
    assert sent_at[-1] - sent_at[0] == 4, "as fast as the rate allows, no faster"


async def test_each_person_who_maps_to_no_user_is_named_on_healthz_with_what_to_do(serve, bitrix):
    rules = compiled(RULES_TEXT.replace("managers:\n  ivanov: {endpoint: PJSIP/101, timeout: 20}\n",
                                        "managers:\n  ivanov: {endpoint: PJSIP/101, timeout: 20}\n"
                                        "  petrova: {endpoint: PJSIP/102, timeout: 20}\n", 1)
                     .replace("    head_of_sales: {id: 7}\n", "    head_of_sales: {id: 7}\n    director: {id: 99}\n"))
    running = await serve(rules)
    crm = running.http.app[CRM_KEY]
    people = await crm.people(crm.connectors["bitrix24"])
    assert people.by_name == {"ivanov": IVANOV, "duty": DUTY, "head_of_sales": HEAD}
    status, body = await http_get(running.http_port, "/healthz")
    problems = {p["about"]: p for p in body["crm"]["problems"]}
    assert status == 200 and set(problems) == {"user:petrova", "user:director"}
    assert problems["user:petrova"]["what"] == ("petrova: no active Bitrix24 user has the internal number 102 "
                                                "(the extension of PJSIP/102)")
    assert problems["user:director"]["what"] == "director: Bitrix24 has no active user 99 (deleted or dismissed?)"
    assert problems["user:director"]["advice"].startswith("name one in the rule file: crm.users.director: `{id: N}`")
    assert "go to duty's user" in problems["user:director"]["advice"]
